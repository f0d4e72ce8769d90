/**
 * What can be done on a host that is lost or not heard from: nothing. A change
 * that needs its host to act is refused at once (503 `host_unreachable`) rather
 * than queued for a host that may never take it, and whoever waits for a machine
 * there is told so instead of waiting out a timeout.
 */
import { hostUnreachable } from '../domain/errors.ts';
import type { ControlDeps } from './ports.ts';

/** Throws `host_unreachable` when `what`'s host is lost or silent, as this process last read the hosts. */
export function assertHostReachable(deps: ControlDeps, what: string, hostId: string | undefined): void {
  if (deps.hostHealth?.statusOf(hostId) === 'unreachable') throw hostUnreachable(what, hostId);
}

/** Ends every wait for a machine whose host is unreachable now, with `host_unreachable`. */
export async function releaseUnreachableWaits(deps: ControlDeps): Promise<number> {
  const health = deps.hostHealth;
  const watched = deps.waits.watchedIds();
  if (!health || watched.length === 0 || !health.anyUnreachable()) return 0;
  let released = 0;
  for (const { machine } of await deps.store.getListings(watched)) {
    if (health.statusOf(machine.hostId) !== 'unreachable') continue;
    deps.waits.fail(machine.id, hostUnreachable(`machine ${machine.id}`, machine.hostId));
    released++;
  }
  return released;
}
