/**
 * Standby VMMs: right after a machine is suspended, a QEMU is started with the
 * layout of its resume (`-incoming defer`) and waits for the state. A resume within
 * the window takes it instead of starting QEMU, which is most of what a resume costs
 * here besides the guest's own warm-up (BENCHMARKS.md). While it waits it costs one
 * QEMU process's own memory: the RAM file it maps is the suspended machine's, in
 * memory anyway for the same window, and untouched until the state is loaded.
 *
 * A standby lives as long as the suspended machine's RAM stays in memory
 * (`--suspended-memory-for`), and ends sooner when anything else happens to the
 * machine. A file beside it (`standby.pid`, made before QEMU starts) lets a restarted
 * hangar tell it from an interrupted resume: recovery ends it and keeps the snapshot.
 */
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { qemuArgv, type VmLayout } from './argv.ts';
import type { MachineFiles } from './machine-files.ts';
import { isIncoming, isQemu, killQemu, startQemu, waitGone } from './vm-process.ts';

interface Entry {
  files: MachineFiles;
  argv: string;
  ready: Promise<number | undefined>;
  timer: NodeJS.Timeout;
}

export class Standbys {
  private readonly entries = new Map<string, Entry>();
  private readonly netns: string | undefined;
  private readonly onError: (machineId: string, error: unknown) => void;

  constructor(netns: string | undefined, onError: (machineId: string, error: unknown) => void) {
    this.netns = netns;
    this.onError = onError;
  }

  /**
   * Starts a standby for the suspended machine's resume with `layout`, for `keepMs`,
   * after `first` (a resume that takes the standby waits for both).
   */
  start(machineId: string, files: MachineFiles, layout: VmLayout, keepMs: number, first?: () => Promise<void>): void {
    if (keepMs <= 0 || this.entries.has(machineId)) return;
    const argv = qemuArgv({ ...layout, incoming: true });
    const ready = (async () => {
      await first?.();
      // Before QEMU starts: a hangar restarted meanwhile must never take it for a resume.
      await writeFile(files.standby, '');
      await rm(files.agentSocket, { force: true });
      await rm(files.qmpSocket, { force: true });
      return startQemu(argv, this.netns, files.pidFile, files.qemuLog);
    })().catch((error: unknown) => {
      this.onError(machineId, error);
      return undefined;
    });
    const timer = setTimeout(() => void this.end(machineId), keepMs);
    timer.unref();
    this.entries.set(machineId, { files, argv: JSON.stringify(argv), ready, timer });
  }

  /**
   * The pid of the machine's standby, now the caller's, if it was started with
   * `argv` and still waits for a state; any other standby of the machine is ended.
   */
  async take(machineId: string, argv: string[]): Promise<number | undefined> {
    const entry = this.entries.get(machineId);
    if (!entry) return undefined;
    this.entries.delete(machineId);
    clearTimeout(entry.timer);
    const pid = await entry.ready;
    await rm(entry.files.standby, { force: true });
    if (pid !== undefined && entry.argv === JSON.stringify(argv) && isQemu(pid, entry.files.pidFile) && isIncoming(pid)) return pid;
    await endQemu(pid, entry.files.pidFile);
    return undefined;
  }

  /** Ends the machine's standby, if it has one. */
  async end(machineId: string): Promise<void> {
    await this.take(machineId, []);
  }
}

/**
 * Ends the standbys hangar finds at its start (`standby.pid` is there: every QEMU
 * of the machine still waiting for a state is one), and returns their pids. The
 * snapshot they waited for stays.
 */
export async function endFoundStandbys(files: MachineFiles, pids: number[]): Promise<number[]> {
  if (!existsSync(files.standby)) return [];
  const standbys = pids.filter((pid) => isIncoming(pid));
  for (const pid of standbys) await endQemu(pid, files.pidFile);
  await rm(files.standby, { force: true });
  return standbys;
}

async function endQemu(pid: number | undefined, pidFile: string): Promise<void> {
  if (pid === undefined) return;
  killQemu(pid, pidFile);
  await waitGone(pid, 5000);
}
