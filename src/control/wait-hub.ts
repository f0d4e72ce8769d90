/**
 * Event-driven waiting: `GET …/wait` subscribes here and is woken by the commit
 * that changes the machine's state. No polling; a waiter costs one closure, one
 * set entry and one timer, so thousands of them are cheap.
 */
import type { MachineState } from '../domain/states.ts';

export interface StateChange {
  state: MachineState;
  version: string;
  eventId: string;
}

type Predicate = (change: StateChange) => boolean;

interface Waiter {
  predicate: Predicate;
  resolve: (change: StateChange | null) => void;
  reject: (error: Error) => void;
}

export class WaitHub {
  private readonly waiters = new Map<string, Set<Waiter>>();

  /**
   * Resolves with the first change of `machineId` that satisfies `predicate`, or
   * null after `timeoutMs` or when `signal` aborts; rejects when the wait is
   * failed (`fail`: the machine's host is lost).
   */
  wait(machineId: string, predicate: Predicate, timeoutMs: number, signal?: AbortSignal): Promise<StateChange | null> {
    return new Promise((resolve, reject) => {
      let set = this.waiters.get(machineId);
      if (!set) {
        set = new Set();
        this.waiters.set(machineId, set);
      }
      const waiters = set;
      const end = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(waiter);
        if (waiters.size === 0 && this.waiters.get(machineId) === waiters) this.waiters.delete(machineId);
      };
      const finish = (change: StateChange | null) => {
        end();
        resolve(change);
      };
      const onAbort = () => finish(null);
      const waiter: Waiter = { predicate, resolve: finish, reject: (error) => { end(); reject(error); } };
      const timer = setTimeout(() => finish(null), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(waiter);
    });
  }

  publish(machineId: string, change: StateChange): void {
    const set = this.waiters.get(machineId);
    if (!set) return;
    for (const waiter of [...set]) {
      if (waiter.predicate(change)) waiter.resolve(change);
    }
  }

  /** Ends every wait for `machineId` with `error`: it will never be answered (its host is lost). */
  fail(machineId: string, error: Error): void {
    for (const waiter of [...(this.waiters.get(machineId) ?? [])]) waiter.reject(error);
  }

  /** Whether anyone waits for a change of `machineId`. */
  watching(machineId: string): boolean {
    return this.waiters.has(machineId);
  }

  /** The machines someone waits for. */
  watchedIds(): string[] {
    return [...this.waiters.keys()];
  }

  /** Number of waiters, for metrics and tests. */
  size(): number {
    let total = 0;
    for (const set of this.waiters.values()) total += set.size;
    return total;
  }
}
