/**
 * Requests or connections each machine is handling now (its load, as Fly's
 * concurrency limits count it), and when it last had any: the idle clock.
 */
import type { Clock } from '../domain/ports.ts';

export class LoadTracker {
  private readonly loads = new Map<string, number>();
  private readonly active = new Map<string, number>();
  private readonly clock: Clock;
  private readonly onRelease: () => void;

  /** `onRelease` runs whenever some machine's load drops: waiting requests may proceed. */
  constructor(clock: Clock, onRelease: () => void = () => undefined) {
    this.clock = clock;
    this.onRelease = onRelease;
  }

  load(id: string): number {
    return this.loads.get(id) ?? 0;
  }

  /** When the machine last took or finished a request (0 if never). */
  lastActive(id: string): number {
    return this.active.get(id) ?? 0;
  }

  /** Counts one request or connection on `id`; the returned function ends it (once). */
  acquire(id: string): () => void {
    this.loads.set(id, this.load(id) + 1);
    this.active.set(id, this.clock.now());
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.load(id) - 1;
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

  entries(): Array<[string, number]> {
    return [...this.loads.entries()];
  }
}
