/**
 * Every committed change of a machine, as it happened, for whoever keeps a view of
 * the machines in memory (the edge proxy's routing table). Listeners run
 * synchronously after the commit and must not throw.
 */
import type { MachineRecord } from '../domain/machine.ts';

export type MachineListener = (machine: MachineRecord) => void;

export class MachineFeed {
  private readonly listeners = new Set<MachineListener>();
  /** The revision of each live machine last published. */
  private readonly revs = new Map<string, number>();

  subscribe(listener: MachineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(machine: MachineRecord): void {
    if (machine.state === 'destroyed') this.revs.delete(machine.id);
    else if (machine.rev > (this.revs.get(machine.id) ?? 0)) this.revs.set(machine.id, machine.rev);
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
}
