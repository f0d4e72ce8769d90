/**
 * What ties the processes of a cluster together beside the store's records: hints
 * that something changed, so that nobody has to poll for it. Work queued for a
 * host (the outbox, written and read through the store), a machine's change (so
 * that waiters on every API replica are released when it commits, whichever
 * process committed it), a host's change of state. Hints only: whoever acts on one
 * reads the store, and polls as a fallback.
 */

export interface ClusterLink {
  /** Calls `listener` when work for `hostId` may be waiting (a hint: poll as well); answers the unsubscribe. */
  onWork(hostId: string, listener: () => void): () => void;
  /** Calls `listener` when another host's proxy may have asked something of `hostId`'s machines (a hint too); answers the unsubscribe. */
  onRequests(hostId: string, listener: () => void): () => void;
  /**
   * Calls `listener` with each machine whose change was committed (by any process:
   * the commit announces itself), or each machine of host `hostId` only, and the
   * revision it says it wrote: a hint too, that anyone able to announce could have
   * made up.
   */
  onMachineChanged(listener: (machineId: string, rev: number | undefined) => void, hostId?: string): void;
  /** Calls `listener` with each host whose state changed (registered, declared lost, forgotten, let rejoin). */
  onHostChanged(listener: (hostId: string) => void): void;
  /**
   * Calls `listener` when announcements may have been missed (the link was down
   * a while): whatever someone waits for must be read again.
   */
  onMissedChanges(listener: () => void): void;
  close(): Promise<void>;
}
