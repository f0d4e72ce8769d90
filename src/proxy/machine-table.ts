/**
 * The proxy's view of every live machine, kept in memory from the control plane's
 * feed so that routing a request reads no database, and indexed by app so that it
 * looks only at that app's machines. Also remembers when each
 * machine was last seen to enter `started`, the start of its idle clock.
 */
import type { Clock } from '../domain/ports.ts';
import type { MachineFeed } from '../control/machine-feed.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { Store } from '../store/store.ts';

export class MachineTable {
  private readonly machines = new Map<string, MachineRecord>();
  private readonly byApp = new Map<string, Map<string, MachineRecord>>();
  private readonly startedAt = new Map<string, number>();
  private readonly listeners = new Set<(machine: MachineRecord) => void>();
  private readonly clock: Clock;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Loads every live machine, then follows the feed. Returns the unsubscribe. */
  async follow(store: Store, feed: MachineFeed): Promise<() => void> {
    const unsubscribe = feed.subscribe((machine) => this.put(machine));
    for (const machine of await store.listLiveMachines()) this.put(machine);
    return unsubscribe;
  }

  put(machine: MachineRecord): void {
    const known = this.machines.get(machine.id);
    if (known && known.rev > machine.rev) return;
    const appMachines = this.byApp.get(machine.appName) ?? new Map<string, MachineRecord>();
    // A machine whose stored config cannot be used gets no traffic and no checks.
    if (machine.state === 'destroyed' || machine.configProblem !== undefined) {
      this.machines.delete(machine.id);
      this.startedAt.delete(machine.id);
      appMachines.delete(machine.id);
      if (appMachines.size === 0) this.byApp.delete(machine.appName);
    } else {
      this.machines.set(machine.id, machine);
      this.byApp.set(machine.appName, appMachines.set(machine.id, machine));
      if (machine.state === 'started' && known?.state !== 'started') this.startedAt.set(machine.id, this.clock.now());
    }
    for (const listener of this.listeners) listener(machine);
  }

  get(id: string): MachineRecord | undefined {
    return this.machines.get(id);
  }

  ofApp(appName: string): MachineRecord[] {
    return [...(this.byApp.get(appName)?.values() ?? [])];
  }

  all(): MachineRecord[] {
    return [...this.machines.values()];
  }

  /** When the machine last entered `started` while the proxy watched (0 if never). */
  startedSince(id: string): number {
    return this.startedAt.get(id) ?? 0;
  }

  /** Called with every change; returns the unsubscribe. */
  onChange(listener: (machine: MachineRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
