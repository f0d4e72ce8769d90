/**
 * The proxy's view of every live machine, kept in memory from the control plane's
 * feed so that routing a request reads no database, and indexed by app so that it
 * looks only at that app's machines. Also remembers when each
 * machine was last seen to enter `started`, the start of its idle clock.
 */
import type { MachineConfig } from '../domain/config.ts';
import type { Clock, DirectoryMachine } from '../domain/ports.ts';
import { ALL_STATES, type MachineState } from '../domain/states.ts';
import type { MachineFeed } from '../control/machine-feed.ts';
import type { Store } from '../store/store.ts';
import type { ProxyMachine } from './ports.ts';

export class MachineTable {
  private readonly machines = new Map<string, ProxyMachine>();
  private readonly byApp = new Map<string, Map<string, ProxyMachine>>();
  private readonly startedAt = new Map<string, number>();
  private readonly listeners = new Set<(machine: ProxyMachine) => void>();
  /** Called at a change of one machine, or of any machine of one app: by id, and by `app:` and the app's name. */
  private readonly watchers = new Map<string, Set<() => void>>();
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

  /** Takes every host's machines from the cluster's directory, kept current by its owner. Returns the unsubscribe. */
  followDirectory(directory: DirectoryMachines): () => void {
    const unsubscribe = directory.onChange((machine) => this.put(routedMachine(machine)));
    for (const machine of directory.all()) this.put(routedMachine(machine));
    return unsubscribe;
  }

  put(machine: ProxyMachine): void {
    const known = this.machines.get(machine.id);
    if (known?.rev !== undefined && machine.rev !== undefined && known.rev > machine.rev) return;
    const appMachines = this.byApp.get(machine.appName) ?? new Map<string, ProxyMachine>();
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
    for (const key of [machine.id, `app:${machine.appName}`]) for (const watcher of [...(this.watchers.get(key) ?? [])]) watcher();
  }

  get(id: string): ProxyMachine | undefined {
    return this.machines.get(id);
  }

  ofApp(appName: string): ProxyMachine[] {
    return [...(this.byApp.get(appName)?.values() ?? [])];
  }

  all(): ProxyMachine[] {
    return [...this.machines.values()];
  }

  /** When the machine last entered `started` while the proxy watched (0 if never). */
  startedSince(id: string): number {
    return this.startedAt.get(id) ?? 0;
  }

  /** Called at each change of machine `id` (and no other's); returns the unsubscribe. */
  onChangeOf(id: string, watcher: () => void): () => void {
    return this.watch(id, watcher);
  }

  /** Called at each change of a machine of app `appName` (and no other app's); returns the unsubscribe. */
  onChangeOfApp(appName: string, watcher: () => void): () => void {
    return this.watch(`app:${appName}`, watcher);
  }

  private watch(key: string, watcher: () => void): () => void {
    const watching = this.watchers.get(key) ?? new Set<() => void>();
    this.watchers.set(key, watching.add(watcher));
    return () => {
      watching.delete(watcher);
      if (watching.size === 0 && this.watchers.get(key) === watching) this.watchers.delete(key);
    };
  }

  /** Called with every change; returns the unsubscribe. */
  onChange(listener: (machine: ProxyMachine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Every host's machines as the cluster's directory holds them (cluster/directory-table.ts). */
export interface DirectoryMachines {
  all(): readonly DirectoryMachine[];
  onChange(listener: (machine: DirectoryMachine) => void): () => void;
}

const NO_CONFIG: MachineConfig = { image: '', guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, init: {} };

/** A directory's machine as the proxy routes to it: without what routing needs (or a state hangar knows), it gets no traffic. */
export function routedMachine(machine: DirectoryMachine): ProxyMachine {
  const { routing } = machine;
  const state = (ALL_STATES as readonly string[]).includes(machine.state) ? machine.state as MachineState : undefined;
  const problem = !state ? `state "${machine.state}" is not one hangar knows` : !routing?.config ? 'its config does not pass the rules' : undefined;
  return {
    id: machine.id, appName: machine.appName, region: machine.region, hostId: machine.hostId, privateIp: machine.privateIp,
    state: state ?? 'failed', cordoned: routing?.cordoned ?? false, createdAt: routing?.createdAt ?? 0, version: routing?.version ?? '',
    config: routing?.config ?? NO_CONFIG, ...(problem ? { configProblem: problem } : {}),
  };
}
