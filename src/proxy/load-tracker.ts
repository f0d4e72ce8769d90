/**
 * Requests or connections each machine is handling now (its load, as Fly's
 * concurrency limits count it), and when it last had any: the idle clock. In a
 * cluster, what the other hosts' proxies publish of the same machines is added
 * (shared-loads.ts), so that limits and idleness are the cluster's.
 */
import type { Clock } from '../domain/ports.ts';

/** What the other hosts' proxies say of one machine. */
export interface RemoteLoad {
  inFlight: number;
  lastActive: number;
}

export class LoadTracker {
  private readonly loads = new Map<string, number>();
  private readonly active = new Map<string, number>();
  private remote: ReadonlyMap<string, RemoteLoad> = new Map();
  private readonly clock: Clock;
  private readonly onRelease: () => void;

  /** `onRelease` runs whenever some machine's load drops: waiting requests may proceed. */
  constructor(clock: Clock, onRelease: () => void = () => undefined) {
    this.clock = clock;
    this.onRelease = onRelease;
  }

  /** This proxy's load on the machine and the other hosts'. */
  load(id: string): number {
    return this.local(id) + (this.remote.get(id)?.inFlight ?? 0);
  }

  /** This proxy's own load on the machine. */
  local(id: string): number {
    return this.loads.get(id) ?? 0;
  }

  /** When the machine last took or finished a request through any proxy known (0 if never). */
  lastActive(id: string): number {
    return Math.max(this.active.get(id) ?? 0, this.remote.get(id)?.lastActive ?? 0);
  }

  /** Counts one request or connection on `id`; the returned function ends it (once). */
  acquire(id: string): () => void {
    this.loads.set(id, this.local(id) + 1);
    this.active.set(id, this.clock.now());
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.local(id) - 1;
      if (left > 0) this.loads.set(id, left);
      else this.loads.delete(id);
      this.active.set(id, this.clock.now());
      this.onRelease();
    };
  }

  /** Restarts the idle clock (a machine just woken has been idle for no time). */
  touch(id: string): void {
    this.active.set(id, this.clock.now());
  }

  /** Takes what the other hosts' proxies said last; waiting requests look again. */
  setRemote(remote: ReadonlyMap<string, RemoteLoad>): void {
    this.remote = remote;
    this.onRelease();
  }

  /** This proxy's loads, by machine. */
  entries(): Array<[string, number]> {
    return [...this.loads.entries()];
  }

  /** Machines this proxy has seen traffic for, with its own load and last activity. */
  activity(): Array<{ machineId: string; inFlight: number; lastActive: number }> {
    return [...this.active.entries()].map(([machineId, lastActive]) => ({ machineId, inFlight: this.local(machineId), lastActive }));
  }
}
