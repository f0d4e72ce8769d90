/** The layout of a test VM in `dir`: host-appropriate accelerator, files beside each other. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestAssets } from '../../src/guest/initramfs.ts';
import { chooseAccelerator, kernelCommandLine, tscKhzFromCpuinfo, type VmLayout } from '../../src/vmm/qemu/argv.ts';

export function testVmLayout(dir: string, assets: GuestAssets, parts: Pick<VmLayout, 'rootDisk' | 'disks'> & Partial<VmLayout>): VmLayout {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const accel = chooseAccelerator(cpuinfo, existsSync('/dev/kvm'));
  return {
    accel, cpus: 1, memoryMb: 256,
    kernelPath: assets.kernel, initrdPath: join(dir, 'initrd.img'),
    kernelArgs: kernelCommandLine({ tscKhz: accel === 'tcg' ? tscKhzFromCpuinfo(cpuinfo) : undefined }),
    qmpSocket: join(dir, 'qmp.sock'), agentSocket: join(dir, 'agent.sock'),
    consoleLog: join(dir, 'console.log'), pidFile: join(dir, 'qemu.pid'),
    ...parts,
  };
}
