/**
 * QEMU processes: started detached (-daemonize, in the machines' network namespace)
 * so that VMs outlive a crash of hangar, found again by pid file, and killed.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Starts QEMU; resolves once it has daemonized (its sockets exist) with its pid. */
export async function startQemu(argv: string[], netns: string | undefined, pidFile: string): Promise<number> {
  const command = netns ? ['ip', 'netns', 'exec', netns, 'qemu-system-x86_64', ...argv, '-daemonize'] : ['qemu-system-x86_64', ...argv, '-daemonize'];
  try {
    await run(command[0] as string, command.slice(1), { timeout: 30_000 });
  } catch (error) {
    throw new Error(`qemu failed to start: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
  }
  const pid = readPid(pidFile);
  if (!pid) throw new Error('qemu started but wrote no pid file');
  return pid;
}

export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live QEMU process (not a recycled pid), and, given `pidFile`, the one that wrote it. */
export function isQemu(pid: number | undefined, pidFile?: string): boolean {
  if (!pid) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('qemu-system') && (pidFile === undefined || cmdline.includes(pidFile));
  } catch {
    return false;
  }
}

export function killQemu(pid: number | undefined, pidFile?: string): void {
  if (!isQemu(pid, pidFile)) return;
  try {
    process.kill(pid as number, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Resolves when `pid` has exited, or after `timeoutMs`. */
export async function waitGone(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isQemu(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}
