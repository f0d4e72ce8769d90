/**
 * Event-driven waiting: `GET …/wait` subscribes here and is woken by the commit
 * that changes the machine's state. No polling; a waiter costs one closure, one
 * set entry and one timer, so thousands of them are cheap.
 */
import type { MachineEvent, MachineRecord } from '../domain/machine.ts';
import type { MachineState } from '../domain/states.ts';

export interface StateChange {
  state: MachineState;
  version: string;
  eventId: string;
  /** The record's revision the change was read at or written with, when known. */
  rev?: number;
  /** The machine and its recent events as read with the change, when they were (a cluster's relay reads them). */
  listing?: { machine: MachineRecord; events: MachineEvent[] };
}

type Predicate = (change: StateChange) => boolean;

interface Waiter {
  predicate: Predicate;
  resolve: (change: StateChange | null) => void;
  reject: (error: Error) => void;
}

export class WaitHub {
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** The highest revision published of each machine waited for, while it is. */
  private readonly revs = new Map<string, number>();

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
        if (waiters.size === 0 && this.waiters.get(machineId) === waiters) {
          this.waiters.delete(machineId);
          this.revs.delete(machineId);
        }
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
    if (change.rev !== undefined && change.rev > (this.revs.get(machineId) ?? -1)) this.revs.set(machineId, change.rev);
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

  /**
   * The highest revision of `machineId` published since someone began to wait for
   * it: an announcement of that revision or an older one tells its waiters nothing new.
   */
  seenRev(machineId: string): number | undefined {
    return this.revs.get(machineId);
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
