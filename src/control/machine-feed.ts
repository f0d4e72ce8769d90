/**
 * Every committed change of a machine, as it happened, for whoever keeps a view of
 * the machines in memory (the edge proxy's routing table). Listeners run
 * synchronously after the commit and must not throw.
 */
import type { MachineRecord } from '../domain/machine.ts';

export type MachineListener = (machine: MachineRecord) => void;

/** How many destroyed machines' revisions are kept, so that a stale read does not bring one back. */
const DESTROYED_KEPT = 10_000;

export class MachineFeed {
  private readonly listeners = new Set<MachineListener>();
  /** The newest revision published of each machine: live ones, and the last DESTROYED_KEPT destroyed. */
  private readonly revs = new Map<string, number>();
  /** Destroyed machines, oldest first, whose revision is still kept. */
  private readonly destroyed = new Set<string>();

  subscribe(listener: MachineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Hands `machine` to every listener, unless a later revision of it was published:
   * a read of the change log that began before this process committed reads the
   * revision before, and passed on after, it would put the machine back as it was.
   */
  publish(machine: MachineRecord): void {
    const newest = this.revs.get(machine.id) ?? 0;
    if (machine.rev < newest) return;
    this.revs.set(machine.id, machine.rev);
    if (machine.state === 'destroyed') this.forgetOldDestroyed(machine.id);
    for (const listener of this.listeners) listener(machine);
  }

  /**
   * Whether revision `rev` of machine `id` (or a later one) was published: a commit
   * of this process, or one read already. A revision is one commit's, so an
   * announcement of it brings nothing new.
   */
  knows(id: string, rev: number): boolean {
    return rev <= (this.revs.get(id) ?? 0);
  }

  /** Keeps the revisions of the last DESTROYED_KEPT destroyed machines only: a stale read comes within moments, not days. */
  private forgetOldDestroyed(id: string): void {
    this.destroyed.delete(id);
    this.destroyed.add(id);
    for (const oldest of this.destroyed) {
      if (this.destroyed.size <= DESTROYED_KEPT) break;
      this.destroyed.delete(oldest);
      this.revs.delete(oldest);
    }
  }
}
