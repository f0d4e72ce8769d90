/**
 * Hosts: the list with what each host's machines reserve, cordoning, and the
 * placement of a new machine. (A host's own registration and heartbeat are in
 * cluster/host-session.ts.)
 */
import { privateIp } from '../domain/address.ts';
import { HangarError } from '../domain/errors.ts';
import { chooseHost, type HostUsage, reservationOf, twoAtRandom } from '../domain/host.ts';
import type { Placer } from '../store/store.ts';
import type { ControlDeps } from './ports.ts';

export async function listHosts(deps: ControlDeps): Promise<HostUsage[]> {
  return deps.store.listHostUsage();
}

export async function cordonHost(deps: ControlDeps, id: string, cordoned: boolean): Promise<HostUsage> {
  const host = await deps.store.setHostCordoned(id, cordoned);
  if (!host) throw new HangarError('not_found', `host ${id} not found`);
  deps.log.info({ hostId: id, cordoned }, cordoned ? `host ${id} cordoned: no new machines go there` : `host ${id} uncordoned`);
  return await deps.store.getHost(id) ?? { host, machines: 0, reservedCpus: 0, reservedMemoryMb: 0 };
}

/**
 * Places a new machine of the app with network number `netNumber`: on the host
 * `chooseHost` picks (`onHost`, where its volume is, if it mounts one), with that
 * host's address group and the machine's number.
 */
export function placer(deps: ControlDeps, netNumber: number, onHost?: string): Placer {
  return (machine, hosts, number) => {
    const need = { region: machine.region, ...reservationOf(machine.config), onHost };
    const { host } = chooseHost(hosts, need, deps.settings.hostLostAfterMs, deps.settings.hostId, twoAtRandom(deps.ids.int));
    return { ...machine, hostId: host.id, privateIp: privateIp(netNumber, host.hostNumber, number) };
  };
}
