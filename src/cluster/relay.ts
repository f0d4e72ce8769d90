/**
 * Carries machine changes between the processes of a cluster: each commit here is
 * announced to the others, and a change announced elsewhere is read back from the
 * store and released to this process's waiters, as a local commit would be; when
 * announcements may have been missed, every machine waited for is read again. Only
 * a machine someone here waits for is read: the edge proxy, the feed's other
 * listener, does not serve a cluster yet.
 */
import type { Logger } from 'pino';
import type { ControlDeps } from '../control/ports.ts';
import type { ClusterLink } from '../store/link.ts';

export function relayMachineChanges(deps: ControlDeps, link: ClusterLink, log: Logger): void {
  deps.announce = (machineId) => {
    link.announce(machineId).catch((error: unknown) => log.warn({ err: error, machineId }, 'could not announce a machine change'));
  };
  const relay = (machineId: string) => {
    void release(deps, machineId).catch((error: unknown) => log.warn({ err: error, machineId }, 'could not read an announced machine change'));
  };
  link.onMachineChanged(relay);
  link.onMissedChanges(() => {
    for (const machineId of deps.waits.watchedIds()) relay(machineId);
  });
}

async function release(deps: ControlDeps, machineId: string): Promise<void> {
  if (!deps.waits.watching(machineId)) return;
  const machine = await deps.store.getMachineById(machineId);
  if (!machine) return;
  const [event] = await deps.store.listEvents(machineId, 1);
  deps.waits.publish(machineId, { state: machine.state, version: machine.version, eventId: event?.id ?? '' });
}
