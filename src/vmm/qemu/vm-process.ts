/**
 * QEMU processes: started detached (-daemonize, in the machines' network namespace)
 * so that VMs outlive a crash of hangar, found again by pid file and by command
 * line, and killed (each kill checked).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { run } from '../../commands/run.ts';

/** Starts QEMU; resolves once it has daemonized (its sockets exist) with its pid. */
export async function startQemu(argv: string[], netns: string | undefined, pidFile: string, logFile?: string): Promise<number> {
  const command = netns ? ['ip', 'netns', 'exec', netns, 'qemu-system-x86_64', ...argv, '-daemonize'] : ['qemu-system-x86_64', ...argv, '-daemonize'];
  try {
    await run(command[0] as string, command.slice(1), { timeout: 30_000 });
  } catch (error) {
    // With -D, QEMU writes even its start-up errors to its log file.
    const said = (error as { stderr?: string }).stderr?.trim() || (logFile ? (await logTail(logFile, 5)).join('; ') : '');
    throw new Error(`qemu failed to start: ${said || (error as Error).message}`);
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

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** Whether `pid` is a live QEMU process (not a recycled pid, not a zombie), and, given `pidFile`, one started with it. */
export function isQemu(pid: number | undefined, pidFile?: string): boolean {
  if (!pid) return false;
  const line = cmdline(pid);
  return line.includes('qemu-system') && (pidFile === undefined || line.includes(pidFile));
}

/** Whether QEMU `pid` was started to load a VM state (`-incoming`): a resume. */
export function isIncoming(pid: number): boolean {
  return cmdline(pid).split('\0').includes('-incoming');
}

/**
 * Every live QEMU started with `pidFile`: the one the file names, and, with `scan`,
 * any other (an overlapping launch cut short by a crash of hangar leaves one whose
 * pid the file no longer holds), read from /proc: a few milliseconds, more on a busy
 * host, so only where such a QEMU may be (recovery, destroy).
 */
export function qemuPids(pidFile: string, options: { scan: boolean }): number[] {
  const pids = new Set<number>();
  const named = readPid(pidFile);
  if (isQemu(named, pidFile)) pids.add(named as number);
  if (!options.scan) return [...pids];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid !== process.pid && isQemu(pid, pidFile)) pids.add(pid);
  }
  return [...pids];
}

/** Every live QEMU whose pid file lies in `dir`, with that pid file: to find VMs of machines that no longer exist. */
export function qemusUnder(dir: string): Array<{ pid: number; pidFile: string }> {
  const found: Array<{ pid: number; pidFile: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const words = cmdline(Number(entry)).split('\0');
    if (!words.some((word) => word.includes('qemu-system'))) continue;
    const pidFile = words[words.indexOf('-pidfile') + 1];
    if (words.includes('-pidfile') && pidFile?.startsWith(`${dir}/`)) found.push({ pid: Number(entry), pidFile });
  }
  return found;
}

export function killQemu(pid: number | undefined, pidFile?: string): void {
  if (!isQemu(pid, pidFile)) return;
  try {
    process.kill(pid as number, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Resolves true when `pid` has exited, false if it still runs after `timeoutMs`. */
export async function waitGone(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isQemu(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

/** The last `lines` lines of QEMU's log (its stderr, with -D), at most the last 16 KiB of it. */
export async function logTail(file: string, lines = 20): Promise<string[]> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16 * 1024);
      const { buffer } = await handle.read(Buffer.alloc(length), 0, length, size - length);
      return buffer.toString('utf8').split('\n').map((line) => line.trimEnd()).filter(Boolean).slice(-lines);
    } finally {
      await handle.close();
    }
  } catch {
    return [];
  }
}
