/**
 * Hosts: this process's own registration and heartbeat, the list with what each
 * host's machines reserve, cordoning, and the placement of a new machine.
 */
import { privateIp } from '../domain/address.ts';
import { HangarError } from '../domain/errors.ts';
import { chooseHost, type HostRecord, type HostUsage, reservationOf, twoAtRandom } from '../domain/host.ts';
import type { Placer } from '../store/store.ts';
import type { ControlDeps } from './ports.ts';

/** How often a host's heartbeat is written. */
export const HEARTBEAT_MS = 5_000;

/** What a host says of itself when it registers. */
export type HostIdentity = Omit<HostRecord, 'epoch' | 'cordoned' | 'heartbeatAt' | 'registeredAt'>;

/**
 * Registers this process's host, gives it the machines written before hosts
 * existed, and keeps its heartbeat; returns the function that stops the heartbeat.
 */
export async function registerSelf(deps: ControlDeps, identity: HostIdentity): Promise<{ host: HostRecord; stop: () => void }> {
  const now = deps.clock.now();
  const host = await deps.store.registerHost({ ...identity, heartbeatAt: now, registeredAt: now });
  const adopted = await deps.store.adoptUnplacedMachines(host.id);
  if (adopted > 0) deps.log.info({ hostId: host.id, adopted }, `host ${host.id}: took ${adopted} machines placed before hosts existed`);
  const timer = setInterval(() => {
    deps.store.heartbeatHost(host.id, host.epoch, deps.clock.now()).then((current) => {
      if (!current) deps.log.error({ hostId: host.id, epoch: host.epoch }, `host ${host.id} was registered again elsewhere; this process no longer speaks for it`);
    }, (error: unknown) => deps.log.warn({ err: error, hostId: host.id }, 'host heartbeat failed'));
  }, HEARTBEAT_MS);
  timer.unref();
  return { host, stop: () => clearInterval(timer) };
}

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
    const { host } = chooseHost(hosts, need, deps.clock.now(), deps.settings.hostId, twoAtRandom(deps.ids.int));
    return { ...machine, hostId: host.id, privateIp: privateIp(netNumber, host.hostNumber, number) };
  };
}
