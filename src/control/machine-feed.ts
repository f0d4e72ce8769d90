/**
 * Every committed change of a machine, as it happened, for whoever keeps a view of
 * the machines in memory (the edge proxy's routing table). Listeners run
 * synchronously after the commit and must not throw.
 */
import type { MachineRecord } from '../domain/machine.ts';

export type MachineListener = (machine: MachineRecord) => void;

export class MachineFeed {
  private readonly listeners = new Set<MachineListener>();

  subscribe(listener: MachineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(machine: MachineRecord): void {
    for (const listener of this.listeners) listener(machine);
  }
}
