/**
 * Moving a machine to another host of the cluster (`POST …/machines/{id}/move`):
 * to the host named, or to one of the region named, chosen as a create's host is.
 * The target must be up, not cordoned, and have room; the machine must be one that
 * can move now (domain/lifecycle/move.ts). A started one is suspended first when
 * asked (and it can be), else stopped when asked, else refused.
 *
 * The steps, each safe to crash after (the machine is on exactly one host, the one
 * its record names): a suspended machine's snapshot, and the volume it mounts with
 * that volume's snapshots, are carried to the target and taken in there
 * (deps.carrier); one transaction then changes its host and its volume's, checking
 * the target's room and that the machine did not change meanwhile (it keeps its
 * 6PN address; its IPv4 one is the target's) (store.moveMachine); the host it left
 * notices that the machine is no longer its own and lets go of what it kept of it,
 * and is told to remove the volume's files. A move that does not commit lets go of
 * what the target received.
 */
import { HangarError, machineNotFound } from '../domain/errors.ts';
import { chooseHost, hostIsFresh, type HostUsage, reservationOf } from '../domain/host.ts';
import { decideMove, moveRefusal } from '../domain/lifecycle/move.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { Carried, Load } from '../domain/ports.ts';
import { suspendRefusal } from '../domain/suspend.ts';
import { failpoint } from '../system/failpoints.ts';
import { StaleWriteError } from '../store/errors.ts';
import { stopMachine, suspendMachine } from './actions.ts';
import { getApp } from './app-lookup.ts';
import { afterCommit, decisionContext } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';
import { waitMachine } from './waiting.ts';

export interface MoveAsk {
  host?: string;
  region?: string;
  /** A started machine is suspended first (if it can be), and resumes on the target with its memory. */
  suspend?: boolean;
  /** A started machine is stopped first (if it is not suspended). */
  stop?: boolean;
}

/** How long a started machine has to suspend or stop before it moves. */
const SETTLE_TIMEOUT_S = '60';

export async function moveMachine(deps: ControlDeps, appName: string, id: string, ask: MoveAsk): Promise<MachineRecord> {
  const { store } = deps;
  if (!store.moveMachine) throw new HangarError('invalid_argument', 'this hangar is one host: machines move between the hosts of a cluster');
  if ((ask.host === undefined) === (ask.region === undefined)) throw new HangarError('invalid_argument', 'say where to move the machine: a host or a region, not both');
  await getApp(deps, appName);
  const found = await store.getMachine(appName, id);
  if (!found) throw machineNotFound(id);
  let target = targetHost(deps, found, await store.listHostUsage(), ask);
  // The region asked for, else the target's; a host serving any region leaves the machine's as it was.
  const regionOf = (host: typeof target.host) => ask.region ?? (host.anyRegion ? found.region : host.region);
  const early = moveRefusal(found, { hostId: target.host.id, region: regionOf(target.host) });
  if (early && found.state !== 'started') throw early;
  const machine = found.state === 'started' ? await settled(deps, found, ask) : found;
  if (machine !== found) target = targetHost(deps, machine, await store.listHostUsage(), ask);
  const moveTo = { hostId: target.host.id, region: regionOf(target.host) };
  const refusal = moveRefusal(machine, moveTo);
  if (refusal) throw refusal;
  const load = await loadOf(deps, machine);
  const carried = load.snapshot || load.volumes.length > 0 ? await carry(deps, machine, moveTo.hostId, load) : undefined;
  const decision = decideMove(machine, moveTo, decisionContext(deps));
  let after: MachineRecord;
  try {
    if (carried) failpoint('migrate.after-copy');
    after = await store.moveMachine({ machine: decision.machine, events: decision.events }, machine.hostId ?? '', load.volumes);
  } catch (error) {
    // Whatever failed, the target lets go of what it received (a crash leaves it until the target's next start).
    if (carried) await deps.carrier?.drop(id, moveTo.hostId, carried.move).catch((dropError: unknown) => deps.log.warn({ machineId: id, err: dropError }, 'the move\'s target could not let go of what it received'));
    if (error instanceof StaleWriteError) throw new HangarError('conflict', `machine ${id} changed while it was being moved; nothing moved`, 'look at its state, and try again');
    throw error;
  }
  failpoint('migrate.after-commit');
  afterCommit(deps, machine, after, decision);
  // The target queues the readying and answers: a start that follows the move's answer is queued after it
  // there, and takes what it readied. The machine runs there without it.
  if (carried) {
    await deps.carrier?.settle(id, moveTo.hostId, carried.move).catch((error: unknown) => deps.log.warn({ machineId: id, err: error },
      `host ${moveTo.hostId} could not ready machine ${id}'s snapshot for its resume: the resume will take longer`));
  }
  if (load.volumes.length > 0) {
    await deps.carrier?.releaseVolumes(machine.hostId ?? '', load).catch((error: unknown) => deps.log.warn({ machineId: id, err: error },
      `the volumes moved stay on host ${machine.hostId} as files no record names: ${load.volumes.join(', ')}`));
  }
  deps.log.info({ machineId: id, from: machine.hostId, to: after.hostId, bytes: carried?.bytes, dataBlocks: carried?.dataBlocks, ms: carried?.ms }, `machine ${id} moved from host ${machine.hostId} to ${after.hostId}`);
  return after;
}

/** A started machine suspended (asked, and it can be) or stopped (asked), and read again; else the refusal. */
async function settled(deps: ControlDeps, machine: MachineRecord, ask: MoveAsk): Promise<MachineRecord> {
  const cannotSuspend = suspendRefusal(machine.config, deps.settings.suspendMaxMemoryMb);
  const way = ask.suspend && cannotSuspend === null ? 'suspended' : ask.stop ? 'stopped' : undefined;
  if (way === undefined) {
    if (ask.suspend) throw new HangarError('conflict', `machine ${machine.id} is started and cannot be suspended (${cannotSuspend})`, 'ask for stop to move it stopped');
    throw moveRefusal(machine) ?? new HangarError('conflict', `machine ${machine.id} is started`);
  }
  if (way === 'suspended') await suspendMachine(deps, machine.appName, machine.id, undefined);
  else await stopMachine(deps, machine.appName, machine.id, {}, undefined);
  await waitMachine(deps, machine.appName, machine.id, { state: way, timeout: SETTLE_TIMEOUT_S });
  const now = await deps.store.getMachine(machine.appName, machine.id);
  if (!now) throw machineNotFound(machine.id);
  return now;
}

/** What the move carries: the suspend snapshot of a suspended machine, the volume it mounts and that volume's snapshots. */
async function loadOf(deps: ControlDeps, machine: MachineRecord): Promise<Load> {
  const volumes = (machine.config.mounts ?? []).map((mount) => mount.volume);
  const volumeSnapshots: string[] = [];
  for (const volumeId of volumes) volumeSnapshots.push(...(await deps.store.listSnapshots(volumeId)).map((snapshot) => snapshot.id));
  return { snapshot: machine.state === 'suspended', volumes, volumeSnapshots };
}

/** The load carried to the target and taken in there; not yet the target's machine. */
function carry(deps: ControlDeps, machine: MachineRecord, toHostId: string, load: Load): Promise<Carried> {
  if (!deps.carrier) throw new HangarError('invalid_argument', 'this hangar cannot carry snapshots or volumes between hosts');
  return deps.carrier.carry(machine, toHostId, load);
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
