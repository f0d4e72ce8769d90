/**
 * Moving a machine to another host of the cluster (`POST …/machines/{id}/move`):
 * to the host named, or to one of the region named, chosen as a create's host is.
 * The target must be up, not cordoned, and have room; the machine must be one that
 * can move now (domain/lifecycle/move.ts). One transaction changes its host (it
 * keeps its 6PN address; its IPv4 one is the target's) (store.moveMachine); the
 * host it left notices that the machine is no longer its own and lets go of what it
 * kept of it.
 */
import { HangarError, machineNotFound } from '../domain/errors.ts';
import { chooseHost, hostIsFresh, type HostUsage, reservationOf } from '../domain/host.ts';
import { decideMove, moveRefusal } from '../domain/lifecycle/move.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { StaleWriteError } from '../store/store.ts';
import { getApp } from './app-lookup.ts';
import { afterCommit, decisionContext } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';

export interface MoveAsk {
  host?: string;
  region?: string;
}

export async function moveMachine(deps: ControlDeps, appName: string, id: string, ask: MoveAsk): Promise<MachineRecord> {
  const { store } = deps;
  if (!store.moveMachine) throw new HangarError('invalid_argument', 'this hangar is one host: machines move between the hosts of a cluster');
  if ((ask.host === undefined) === (ask.region === undefined)) throw new HangarError('invalid_argument', 'say where to move the machine: a host or a region, not both');
  await getApp(deps, appName);
  const machine = await store.getMachine(appName, id);
  if (!machine) throw machineNotFound(id);
  const target = targetHost(deps, machine, await store.listHostUsage(), ask);
  const refusal = moveRefusal(machine, target.host.id);
  if (refusal) throw refusal;
  const ctx = decisionContext(deps);
  // The region asked for, else the target's; a host serving any region leaves the machine's as it was.
  const region = ask.region ?? (target.host.anyRegion ? machine.region : target.host.region);
  const decision = decideMove(machine, { hostId: target.host.id, region }, ctx);
  let after: MachineRecord;
  try {
    after = await store.moveMachine({ machine: decision.machine, events: decision.events }, machine.hostId ?? '');
  } catch (error) {
    if (error instanceof StaleWriteError) throw new HangarError('conflict', `machine ${id} changed while it was being moved; nothing moved`, 'look at its state, and try again');
    throw error;
  }
  afterCommit(deps, machine, after, decision);
  deps.log.info({ machineId: id, from: machine.hostId, to: after.hostId }, `machine ${id} moved from host ${machine.hostId} to ${after.hostId}`);
  return after;
}

/** The host asked for, refused with the reason if it cannot take the machine; or the one a region gives. */
function targetHost(deps: ControlDeps, machine: MachineRecord, hosts: HostUsage[], ask: MoveAsk): HostUsage {
  const freshMs = deps.settings.hostLostAfterMs;
  if (ask.region !== undefined) {
    const others = hosts.filter((usage) => usage.host.id !== machine.hostId);
    return chooseHost(others, { region: ask.region, ...reservationOf(machine.config) }, freshMs);
  }
  const named = hosts.find((usage) => usage.host.id === ask.host);
  if (!named) throw new HangarError('not_found', `host ${ask.host} not found`);
  if (named.host.id === machine.hostId) return named;
  if (named.host.cordoned) throw new HangarError('insufficient_capacity', `host ${named.host.id} is cordoned: nothing moves there`, 'uncordon it, or pick another host');
  if (!hostIsFresh(named.host, freshMs)) throw new HangarError('host_unreachable', `host ${named.host.id} is ${named.host.state === 'active' ? 'silent' : named.host.state}: nothing moves there`);
  return chooseHost([named], { region: named.host.region, ...reservationOf(machine.config), onHost: named.host.id }, freshMs);
}
