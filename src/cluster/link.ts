/**
 * What ties the processes of a cluster together beside the store: the queue of work
 * each host drains (written by the store with the commits that decide it; woken by
 * a hint, polled as a fallback), and word that a machine changed, so that waiters on
 * every API replica are released when a change commits, whichever process committed it.
 */
import type { Effect } from '../domain/lifecycle/decision.ts';
import type { MachineSpec } from '../domain/runtime.ts';
import type { HostFence } from '../store/store.ts';

/** Effects for one machine, for the host it is placed on. */
export interface HostWork {
  hostId: string;
  /** The machine's revision written by the commit that queued the work. */
  rev: number;
  spec: MachineSpec;
  effects: Effect[];
}

export interface ClusterLink {
  /**
   * Takes up to `limit` pieces of this host's work, oldest first, removing them:
   * each piece is given to one taker only, and only while the host still has
   * `host.epoch` (checked in the claiming statement: an instance the host was
   * taken from gets nothing). Work taken by an agent that then dies is not given
   * again: the agent's recovery finishes what its machines' states say was under way.
   */
  claim(host: HostFence, limit: number): Promise<HostWork[]>;
  /** Calls `listener` when work for `hostId` may be waiting (a hint: poll as well); answers the unsubscribe. */
  onWork(hostId: string, listener: () => void): () => void;
  /** Tells every process that machine `machineId` changed. */
  announce(machineId: string): Promise<void>;
  /** Calls `listener` with each machine another process announced. */
  onMachineChanged(listener: (machineId: string) => void): void;
  /** Calls `listener` with each host whose state changed (declared lost, forgotten, let rejoin). */
  onHostChanged(listener: (hostId: string) => void): void;
  /**
   * Calls `listener` when announcements may have been missed (the link was down
   * a while): whatever someone waits for must be read again.
   */
  onMissedChanges(listener: () => void): void;
  close(): Promise<void>;
}
