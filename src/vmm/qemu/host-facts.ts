/**
 * Facts about this host that a suspend snapshot depends on: the QEMU build, the
 * guest kernel and initramfs, the host's CPU and its current boot. Read once per
 * hangar process (the kernel files are hashed, which takes a few ms). Nothing of
 * them names this host: a snapshot moved to another host with the same QEMU,
 * kernel and CPU resumes there.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { run } from '../../commands/run.ts';

export interface HostFacts {
  qemu: string;
  kernel: string;
  /** The CPU's model and flags (cpuIdentity): a VM's state is restored only on the CPU it was saved on. */
  cpu: string;
  bootId: string;
}

export async function readHostFacts(kernelFiles: string[]): Promise<HostFacts> {
  const { stdout } = await run('qemu-system-x86_64', ['--version']);
  const kernel = createHash('sha256');
  for (const file of kernelFiles) kernel.update(await readFile(file));
  return {
    qemu: stdout.split('\n')[0]?.trim() ?? '',
    kernel: kernel.digest('hex'),
    cpu: cpuIdentity(await readFile('/proc/cpuinfo', 'utf8').catch(() => '')),
    bootId: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim(),
  };
}

/** `<model name>/<sha256 of its flags, sorted>`, from /proc/cpuinfo's first processor. Pure. */
export function cpuIdentity(cpuinfo: string): string {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? '';
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim() ?? '';
  const flags = field('flags').split(/\s+/).filter(Boolean).sort().join(' ');
  return `${field('model name') || 'unknown CPU'}/${createHash('sha256').update(flags).digest('hex').slice(0, 16)}`;
}
