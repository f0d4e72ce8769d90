/** Machines: create, show, list, events, versions. */
import { normalizeConfig } from '../domain/config.ts';
import { appNotFound, HangarError, invalid, machineNotFound } from '../domain/errors.ts';
import { parseImageRef } from '../domain/image-ref.ts';
import { acquireLease, parseTtl } from '../domain/lease.ts';
import { decideObservation } from '../domain/lifecycle/observations.ts';
import type { MachineEvent, MachineRecord, MachineVersion } from '../domain/machine.ts';
import { checkAttachable, touched } from '../domain/volume.ts';
import { MACHINE_NAME, machineName, REGION } from '../domain/names.ts';
import type { MachineFilter, MachineInsert, MachineListing, Placer } from '../store/store.ts';
import { AppGoneError, DuplicateError, LimitError } from '../store/errors.ts';
import { appDeletingError, appForMachineCreate, getApp } from './app-lookup.ts';
import { placer } from './hosts.ts';
import { pinned } from './image-pins.ts';
import { decisionContext, loadMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';
import { withMountDetails } from './volumes.ts';
import { checkStandbys } from './standbys.ts';
import type { StateChange } from './wait-hub.ts';
import { stateOrGone, untilChange } from './waiting.ts';

export interface CreateMachineInput {
  config?: unknown;
  name?: unknown;
  region?: unknown;
  skip_launch?: unknown;
  skip_service_registration?: unknown;
  lease_ttl?: unknown;
}

/** How long create waits for the image to be prepared before it answers. */
const PREPARE_WAIT_MS = 15 * 60_000;
/** How long a create that failed waits for its host to destroy the machine before it answers anyway. */
const FAILED_DESTROY_WAIT_MS = 30_000;
const NAME_ATTEMPTS = 20;
/** Why a create's wait for its prepare is ended: given, so that no DOMException (and its stack) is made for each create. */
const WAIT_ENDED = 'the create has its answer';

/**
 * Creates a machine and answers once its image is prepared, with the machine and
 * its recent events. The part up to handing the prepare to the host runs as a
 * create in flight, which an app's deletion waits for (see creates-in-flight.ts).
 */
export async function createMachine(deps: ControlDeps, appName: string, input: CreateMachineInput): Promise<MachineListing> {
  const id = deps.ids.machineId();
  // Waited for before the machine exists: no change of it can come before this, so none needs reading first.
  // Until it is recorded, a read of it finds no record, which is no news (a record gone is one destroyed only after).
  let recorded = false;
  const controller = new AbortController();
  const prepared = deps.waits.wait(id, (change) => change.state !== 'creating' && (recorded || change.rev !== undefined), PREPARE_WAIT_MS, controller.signal);
  prepared.catch(() => undefined);
  let change: StateChange | null;
  try {
    const inserted = await deps.creates.run(appName, async () => {
      try {
        return await insertMachine(deps, appName, input, id);
      } catch (error) {
        // The app this process knew was deleted and made again: once more, with the app read now.
        if (!(error instanceof AppGoneError && error.why === 'replaced')) throw error;
        return insertMachine(deps, appName, input, id).catch((again: unknown) => {
          throw again instanceof AppGoneError ? new HangarError('conflict', `app ${appName} is being made again; try again`) : again;
        });
      }
    });
    recorded = true;
    // What this process wrote: an announcement of it tells the wait nothing.
    deps.waits.publish(id, { state: inserted.state, version: inserted.version, eventId: '', rev: inserted.rev });
    change = await prepared;
  } finally {
    controller.abort(WAIT_ENDED);
  }
  const listing = change?.listing ?? await deps.store.getListing(appName, id);
  const settled = listing?.machine;
  if (listing && settled && !['launch_failed', 'destroying', 'destroyed', 'creating'].includes(settled.state)) return listing;
  // A machine whose image could not be prepared is destroyed by its host: answered once it is, it is not listed after the answer.
  if (settled?.state === 'launch_failed') {
    await untilChange(deps, id, (next) => next.state === 'destroyed', () => stateOrGone(deps, id), FAILED_DESTROY_WAIT_MS).catch(() => null);
  }
  const events = await deps.store.listEvents(id, 5);
  const failure = events.find((event) => event.status === 'launch_failed');
  if (failure || settled?.state === 'creating') {
    const reason = failure?.request.error ?? 'image could not be prepared in time';
    throw new HangarError('launch_failed', `failed to launch machine ${id}: ${String(reason)}`);
  }
  throw new HangarError('conflict', `machine ${id} was destroyed before it was created`, 'its app may be being deleted');
}

/** Checks the request, records the machine in `creating` and hands its prepare to the host. */
async function insertMachine(deps: ControlDeps, appName: string, input: CreateMachineInput, id: string): Promise<MachineRecord> {
  const app = await appForMachineCreate(deps, appName);
  const config = await withMountDetails(deps, appName, normalizeConfig(input.config));
  await checkStandbys(deps, appName, undefined, config);
  const parsedRef = parseImageRef(config.image);
  const region = optionalString(input.region, 'region') ?? deps.settings.defaultRegion;
  if (!REGION.test(region)) throw invalid(`region "${region}" is not a region code (lowercase letters and digits)`);
  const requestedName = optionalString(input.name, 'name');
  if (requestedName !== undefined && !MACHINE_NAME.test(requestedName)) {
    throw invalid('name must be 1-63 lowercase letters, digits and dashes, starting with a letter or digit');
  }
  const skipLaunch = input.skip_launch === true;
  const leaseTtl = input.lease_ttl === undefined || input.lease_ttl === null || input.lease_ttl === 0 ? undefined : parseTtl(input.lease_ttl);
  // Asked of the registry only for a request that passed every check above.
  const imageRef = await pinned(deps, parsedRef);

  const ctx = decisionContext(deps);
  const base: MachineRecord = {
    id,
    appName,
    name: requestedName ?? '',
    region,
    state: 'creating',
    stateSince: ctx.now,
    desired: skipLaunch ? 'created' : 'started',
    observed: { vm: 'absent', at: ctx.now },
    version: deps.ids.ulid(),
    config,
    imageRef,
    // Placement gives the machine its host, its number and so its address (hosts.ts).
    privateIp: '',
    cordoned: input.skip_service_registration === true,
    hasSnapshot: false,
    restartCount: 0,
    restartTimes: [],
    settleTo: skipLaunch ? 'created' : 'starting',
    lease: null,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    rev: 0,
  };
  const machine: MachineRecord = leaseTtl === undefined ? base : {
    ...base,
    lease: acquireLease(null, { machineId: base.id, ttlSeconds: leaseTtl, description: 'created with lease_ttl', owner: deps.settings.leaseOwner }, ctx.now, deps.ids.nonce()),
  };
  const volumeId = config.mounts?.[0]?.volume;
  // In a cluster a machine runs where its volume's file is (a process with its own host has one disk).
  let volumeHost: string | undefined;
  if (volumeId) {
    await deps.store.attachVolume(volumeId, machine.id, (volume) => {
      const attachable = checkAttachable(volume, volumeId, appName, machine.id);
      if (deps.settings.hostId === '') volumeHost = attachable.hostId;
      return touched(attachable, ctx.now);
    });
  }
  const inserted = await insertWithName(deps, machine, requestedName !== undefined, placer(deps, app.netNumber, volumeHost), true, app.id).catch(async (error: unknown) => {
    if (volumeId) await deps.store.detachVolumes(machine.id);
    throw error;
  });
  if (inserted.hostId !== undefined) deps.workQueued?.(inserted.hostId);
  return inserted;
}

/**
 * Inserts, generating a fresh name on a clash unless the caller chose the name.
 * With `appId`, the app as the caller read it (see KnownApps): one deleted (and
 * made again) since is AppGoneError `replaced`, which the caller may try again.
 */
export async function insertWithName(deps: ControlDeps, machine: MachineRecord, chosen: boolean, place: Placer, prepare = true, appId?: string): Promise<MachineRecord> {
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    const name = chosen ? machine.name : machineName(deps.ids.int(1 << 30), deps.ids.int(1 << 30), deps.ids.int(10000));
    const candidate = { ...machine, name };
    const version: MachineVersion = { machineId: candidate.id, version: candidate.version, config: candidate.config, imageRef: candidate.imageRef, createdAt: candidate.createdAt };
    try {
      // The prepare is queued for the host in the insert's own transaction, unless the host holds the image already.
      const prepareOnHost = prepare ? { effects: [{ kind: 'prepare' } as const], ifImageHeld: preparedAlready(deps) } : {};
      return await deps.store.insertMachine({ machine: candidate, version, events: [], ...prepareOnHost, ...(appId === undefined ? {} : { appId }) }, deps.settings.maxMachinesPerApp, place);
    } catch (error) {
      if (error instanceof LimitError) throw new HangarError('limit_exceeded', error.message, 'destroy machines you no longer need');
      if (error instanceof AppGoneError) {
        deps.knownApps?.forget(candidate.appName);
        if (error.why === 'replaced') throw error;
        throw error.why === 'deleting' ? appDeletingError(candidate.appName) : appNotFound(candidate.appName);
      }
      if (!(error instanceof DuplicateError)) throw error;
      if (chosen) throw new HangarError('name_taken', `machine name "${name}" is already taken in app ${candidate.appName}`);
    }
  }
  throw new HangarError('conflict', 'could not generate a free machine name; pass one');
}

/** A new machine as its host's prepare leaves it, for a host that holds its image already (named by digest, nothing to resolve). */
function preparedAlready(deps: ControlDeps): MachineInsert['ifImageHeld'] {
  return (placed) => decideObservation(placed, { kind: 'prepared', imageRef: placed.imageRef }, decisionContext(deps));
}

export async function getMachine(deps: ControlDeps, appName: string, id: string, version?: string): Promise<{ machine: MachineRecord; events: MachineEvent[] }> {
  // A machine found in the app proves the app exists: one read, not two, for the common case.
  const listing = await deps.store.getListing(appName, id);
  if (!listing) {
    await getApp(deps, appName);
    throw machineNotFound(id);
  }
  const { machine, events } = listing;
  if (!version || version === machine.version) return { machine, events };
  const old = await deps.store.getVersion(id, version);
  if (!old) throw new HangarError('not_found', `machine ${id} has no version ${version}`);
  return { machine: { ...machine, state: 'replaced', version: old.version, config: old.config, imageRef: old.imageRef }, events };
}

export async function listMachines(deps: ControlDeps, appName: string, filter: MachineFilter): Promise<MachineListing[]> {
  await getApp(deps, appName);
  return deps.store.listMachines(appName, filter);
}

export async function listMachineRevs(deps: ControlDeps, appName: string, filter: MachineFilter): Promise<Array<{ id: string; rev: number }>> {
  await getApp(deps, appName);
  return deps.store.listMachineRevs(appName, filter);
}

export async function listEvents(deps: ControlDeps, appName: string, id: string, limitText: string | undefined): Promise<MachineEvent[]> {
  const limit = limitText === undefined || limitText === '' ? 20 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 50) throw invalid('limit must be a whole number from 1 to 50');
  await loadMachine(deps, appName, id);
  return deps.store.listEvents(id, limit);
}

export async function listVersions(deps: ControlDeps, appName: string, id: string): Promise<MachineVersion[]> {
  await loadMachine(deps, appName, id);
  return deps.store.listVersions(id);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  return value;
}
