/**
 * Every host's machines, as a cluster host's private DNS answers from: read whole
 * once, then kept current by following the cluster's changes (woken by every
 * machine's commit announcement, as an API replica is; see ChangeFollower), so
 * a machine started on any host is in this host's answers within a read of its
 * commit. Only what the DNS needs of each machine is read (MachineDirectory).
 */
import type { Logger } from 'pino';
import type { DirectoryMachine, MachineDirectory } from '../domain/ports.ts';
import type { ClusterLink } from '../store/link.ts';
import { ChangeFollower } from './change-follower.ts';

/**
 * The least time between two reads of the changes. Every host reads every
 * machine's commits: read at each announcement, a burst of creates cost each host
 * a read per commit or two (8 hosts made the directory reads most of PostgreSQL's
 * work per create). Ten reads a second at most keep a started machine in every
 * host's answers well within the second the private DNS promises.
 */
const READ_GAP_MS = 100;
/** How often the lost hosts are read without a hint. */
const LOST_EVERY_MS = 5_000;

export class DirectoryTable {
  private readonly machines = new Map<string, DirectoryMachine>();
  private readonly listeners = new Set<(machine: DirectoryMachine) => void>();
  private follower: ChangeFollower<DirectoryMachine> | undefined;
  private list: DirectoryMachine[] | undefined;
  private lost: ReadonlySet<string> = new Set();
  private lostTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  static async start(directory: MachineDirectory, link: ClusterLink, log: Logger): Promise<DirectoryTable> {
    const table = new DirectoryTable();
    // From the horizon before the whole read: what changes meanwhile is read again, never missed.
    const from = await directory.horizon();
    for (const machine of (await directory.since()).items) table.put(machine);
    table.follower = await ChangeFollower.follow({ horizon: () => directory.horizon(), since: (at) => directory.since(at) }, link,
      (machine) => table.put(machine), log, { from, what: 'every host\'s machines (private DNS, network and proxy)', minGapMs: READ_GAP_MS });
    // A commit announced before the follower listened, past the whole read's horizon, is read now.
    table.follower.read();
    // Which hosts are lost: read at once when a host's state changes, and every few seconds.
    const readLost = () => {
      if (table.stopped) return;
      directory.lostHosts().then((lost) => { table.lost = new Set(lost); }, (error: unknown) => log.warn({ err: error }, 'could not read which hosts are lost'));
    };
    readLost();
    link.onHostChanged(readLost);
    table.lostTimer = setInterval(readLost, LOST_EVERY_MS);
    table.lostTimer.unref();
    return table;
  }

  /** Whether host `hostId` was declared lost (or written off). */
  isLost(hostId: string): boolean {
    return this.lost.has(hostId);
  }

  get(id: string): DirectoryMachine | undefined {
    return this.machines.get(id);
  }

  all(): readonly DirectoryMachine[] {
    return (this.list ??= [...this.machines.values()]);
  }

  onChange(listener: (machine: DirectoryMachine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.lostTimer);
    await this.follower?.stop();
  }

  private put(machine: DirectoryMachine): void {
    if (machine.state === 'destroyed') this.machines.delete(machine.id);
    else this.machines.set(machine.id, machine);
    this.list = undefined;
    for (const listener of this.listeners) listener(machine);
  }
}
