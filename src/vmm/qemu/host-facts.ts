/**
 * Facts about this host that a suspend snapshot depends on: the QEMU build, the
 * guest kernel and initramfs, the host's identity and its current boot. Read once
 * per hangar process (the kernel files are hashed, which takes a few ms).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface HostFacts {
  qemu: string;
  kernel: string;
  host: string;
  bootId: string;
}

export async function readHostFacts(kernelFiles: string[]): Promise<HostFacts> {
  const { stdout } = await run('qemu-system-x86_64', ['--version']);
  const kernel = createHash('sha256');
  for (const file of kernelFiles) kernel.update(await readFile(file));
  const machineId = await readFile('/etc/machine-id', 'utf8').catch(() => '');
  return {
    qemu: stdout.split('\n')[0]?.trim() ?? '',
    kernel: kernel.digest('hex'),
    host: `${machineId.trim()}/${hostname()}`,
    bootId: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim(),
  };
}
