/**
 * Carries machine changes between the processes of a cluster: every commit
 * announces itself inside its transaction (see the PostgreSQL store), and a change
 * so announced is read back from the store and released to this process's
 * waiters, as a local commit would be. When announcements may have been missed
 * (the listening connection was down), and every few seconds whatever happens,
 * every machine waited for is read again: a lost hint delays a waiter by a few
 * seconds at most, never to its timeout.
 */
import type { Logger } from 'pino';
import type { ControlDeps } from '../control/ports.ts';
import type { ClusterLink } from '../store/link.ts';

/** How often machines waited for are read again, whatever the hints say. */
const BACKSTOP_MS = 5_000;

/** Starts relaying; answers the stop. */
export function relayMachineChanges(deps: ControlDeps, link: ClusterLink, log: Logger): () => void {
  const relay = (machineIds: string[]) => {
    void release(deps, machineIds).catch((error: unknown) => log.warn({ err: error, machineIds }, 'could not read announced machine changes'));
  };
  link.onMachineChanged((machineId) => {
    if (deps.waits.watching(machineId)) relay([machineId]);
  });
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
  const listings = await deps.store.getListings(machineIds);
  const found = new Set(listings.map(({ machine }) => machine.id));
  for (const { machine, events } of listings) {
    deps.waits.publish(machine.id, { state: machine.state, version: machine.version, eventId: events[0]?.id ?? '' });
  }
  // A machine whose record is gone was destroyed with its app: its waiters for `destroyed` are answered.
  for (const id of machineIds) if (!found.has(id)) deps.waits.publish(id, { state: 'destroyed', version: '', eventId: '' });
}
