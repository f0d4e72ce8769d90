/**
 * Carries machine changes between the processes of a cluster: every commit
 * announces itself inside its transaction (see the PostgreSQL store), and a change
 * so announced is read back from the store and released to this process's
 * waiters, as a local commit would be. Announcements heard together are read in
 * one query; one of a revision this process's waiters already know is not read at
 * all (an announcement is a hint: one made up can only cause a read). When
 * announcements may have been missed (the listening connection was down), and
 * every few seconds whatever happens, every machine waited for is read again: a
 * lost hint delays a waiter by a few seconds at most, never to its timeout.
 */
import type { Logger } from 'pino';
import type { ControlDeps } from '../control/ports.ts';
import type { ClusterLink } from '../store/link.ts';
import type { MachineListing } from '../store/store.ts';

/** How often machines waited for are read again, whatever the hints say. */
const BACKSTOP_MS = 5_000;

/** Starts relaying (the changes of host `hostId`'s machines only, when given); answers the stop. */
export function relayMachineChanges(deps: ControlDeps, link: ClusterLink, log: Logger, hostId?: string): () => void {
  const pending = new Set<string>();
  let scheduled = false;
  const relay = (machineIds: string[]) => {
    for (const id of machineIds) pending.add(id);
    if (scheduled) return;
    scheduled = true;
    // Whatever else was heard by then goes in the same read.
    setImmediate(() => {
      scheduled = false;
      const ids = [...pending];
      pending.clear();
      void release(deps, ids).catch((error: unknown) => log.warn({ err: error, machineIds: ids }, 'could not read announced machine changes'));
    });
  };
  link.onMachineChanged((machineId, rev) => {
    if (!deps.waits.watching(machineId)) return;
    const seen = deps.waits.seenRev(machineId);
    if (rev !== undefined && seen !== undefined && rev <= seen) return;
    relay([machineId]);
  }, hostId);
  const rereadAll = () => {
    const watched = deps.waits.watchedIds();
    if (watched.length > 0) relay(watched);
  };
  link.onMissedChanges(rereadAll);
  const timer = setInterval(rereadAll, BACKSTOP_MS);
  timer.unref();
  return () => clearInterval(timer);
}

async function release(deps: ControlDeps, machineIds: string[]): Promise<void> {
  const missing = publishFound(deps, await deps.store.getListings(machineIds), machineIds);
  // A record this process knows was written (a create's, whose insert may have committed while the read ran) is read again before it counts as gone.
  const known = missing.filter((id) => deps.waits.seenRev(id) !== undefined);
  publishGone(deps, missing.filter((id) => !known.includes(id)));
  if (known.length > 0) publishGone(deps, publishFound(deps, await deps.store.getListings(known), known));
}

/** A machine whose record is gone was destroyed with its app: its waiters for `destroyed` are answered. */
function publishGone(deps: ControlDeps, machineIds: string[]): void {
  for (const id of machineIds) deps.waits.publish(id, { state: 'destroyed', version: '', eventId: '' });
}

/** Publishes each listing read; answers the ids of `asked` that were not found. */
function publishFound(deps: ControlDeps, listings: MachineListing[], asked: string[]): string[] {
  for (const listing of listings) {
    const { machine, events } = listing;
    deps.waits.publish(machine.id, { state: machine.state, version: machine.version, eventId: events[0]?.id ?? '', rev: machine.rev, listing });
  }
  const found = new Set(listings.map(({ machine }) => machine.id));
  return asked.filter((id) => !found.has(id));
}
