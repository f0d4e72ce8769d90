/**
 * Volumes: create (empty, forked or restored), list, show, update, extend, delete
 * (refused while attached); attached by an update that mounts one, let go of once
 * no VM of the machine may use it. What needs disk space is refused by the host
 * whose disk it is (VolumeHost), where racing requests take turns.
 */
import type { MachineConfig } from '../domain/config.ts';
import { appNotFound, HangarError, invalid } from '../domain/errors.ts';
import { chooseHost, twoAtRandom } from '../domain/host.ts';
import { REGION } from '../domain/names.ts';
import type { MachineRecord } from '../domain/machine.ts';
import {
  checkAttachable, checkFstype, checkRetention, checkSizeGb, checkVolumeName, DEFAULT_RETENTION_DAYS, describeMount,
  given, ownVolume, touched, type VolumeRecord, volumesInUse, volumeStyleId,
} from '../domain/volume.ts';
import { AppGoneError, LimitError } from '../store/errors.ts';
import { appDeletingError, appForCreate, getApp } from './app-lookup.ts';
import type { VolumeHost } from '../domain/ports.ts';
import type { ControlDeps } from './ports.ts';
import { pruneSnapshots, retireSnapshots, snapshotToRestore } from './volume-snapshots.ts';

/** fly-go's CreateVolumeRequest; each field may be null, meaning not given. */
export interface CreateVolumeInput {
  name?: unknown;
  size_gb?: unknown;
  region?: unknown;
  encrypted?: unknown;
  auto_backup_enabled?: unknown;
  snapshot_retention?: unknown;
  fstype?: unknown;
  source_volume_id?: unknown;
  snapshot_id?: unknown;
  /** Fly's unique zones: false lets the volume share a host with the app's volumes of its name. */
  require_unique_zone?: unknown;
}

/**
 * Creates a volume: empty; or with `source_volume_id` a fork, a copy of that
 * volume's data as it is on disk now (even while a machine writes to it); or with
 * `snapshot_id` a restore, a copy of the snapshot. A copy is at least as large as
 * what it copies and takes its region and encryption unless told otherwise. It
 * runs as a create in flight, which an app's deletion waits for.
 *
 * The record goes first, `creating`, counted against the app's limit in the same
 * transaction; then the file is made on its host (refused there if it may not
 * fit); then the record says `created`. A create that fails drops its record and
 * file; one cut short by a crash is undone at the next start (interrupted.ts).
 */
export function createVolume(deps: ControlDeps, appName: string, input: CreateVolumeInput): Promise<VolumeRecord> {
  return deps.creates.run(appName, () => makeVolume(deps, appName, input));
}

async function makeVolume(deps: ControlDeps, appName: string, input: CreateVolumeInput): Promise<VolumeRecord> {
  await appForCreate(deps, appName);
  const name = checkVolumeName(input.name);
  const origin = await originOf(deps, appName, input, name);
  const sizeGb = given(input.size_gb) === undefined ? origin.sizeGb : checkSizeGb(input.size_gb, 'size_gb', origin.sizeGb);
  const retention = given(input.snapshot_retention) === undefined ? DEFAULT_RETENTION_DAYS : checkRetention(input.snapshot_retention);
  checkFstype(given(input.fstype));
  const region = typeof input.region === 'string' && input.region !== '' ? input.region : origin.region ?? deps.settings.defaultRegion;
  if (!REGION.test(region)) throw invalid(`region "${region}" is not a region code`);
  const sameName = input.require_unique_zone === false ? [] : (await deps.store.listVolumes(appName)).filter((v) => v.name === name && v.state !== 'destroyed');
  const hostId = origin.bound ? origin.hostId : await hostForVolume(deps, region, sameName);
  const id = volumeStyleId('vol_', deps.ids.int);
  const now = deps.clock.now();
  const volume: VolumeRecord = {
    id, appName, name, region, sizeGb, state: 'creating', attachedMachineId: null, ...(hostId === undefined ? {} : { hostId }),
    encrypted: typeof input.encrypted === 'boolean' ? input.encrypted : origin.encrypted ?? true,
    autoBackupEnabled: input.auto_backup_enabled !== false,
    snapshotRetention: retention,
    createdAt: now,
    updatedAt: now,
  };
  await insertVolume(deps, volume);
  const disk = deps.volumes.on(hostId);
  try {
    await origin.fill(disk, id, sizeGb);
  } catch (error) {
    await dropVolume(deps, volume);
    throw error;
  }
  const made = { ...volume, state: 'created' as const };
  if (!(await deps.store.finishVolume(id, made))) {
    // Taken meanwhile by the app's deletion (through another replica), which removed a file it may not have seen yet.
    await disk.remove(id).catch((error: unknown) => deps.log.warn({ volumeId: id, err: error }, `the file of volume ${id}, deleted while it was being made, could not be removed`));
    throw new HangarError('conflict', `volume ${id} was deleted before it was created`, 'the app is being deleted');
  }
  return made;
}

async function insertVolume(deps: ControlDeps, volume: VolumeRecord): Promise<void> {
  try {
    await deps.store.insertVolume(volume, deps.settings.maxVolumesPerApp);
  } catch (error) {
    if (error instanceof LimitError) throw new HangarError('limit_exceeded', error.message, 'delete volumes the app no longer needs');
    if (error instanceof AppGoneError) throw error.why === 'deleting' ? appDeletingError(volume.appName) : appNotFound(volume.appName);
    throw error;
  }
}

/**
 * Undoes a create whose file could not be made: its file (or what there is of it)
 * is removed, then its record dropped. A file its host cannot remove now keeps
 * the record `creating`, for the next start to try again.
 */
export async function dropVolume(deps: ControlDeps, volume: VolumeRecord): Promise<void> {
  try {
    await deps.volumes.on(volume.hostId).remove(volume.id);
  } catch (error) {
    deps.log.warn({ volumeId: volume.id, hostId: volume.hostId, err: error }, `volume ${volume.id} was not made, and what there is of its file could not be removed; the next start tries again`);
    return;
  }
  await deps.store.finishVolume(volume.id, null);
}

/**
 * The host a new volume goes to: this process's own host, or in a cluster a
 * fresh, uncordoned host of the region, preferring hosts that hold none of
 * `sameName` (Fly's unique zones, which flyctl asks for by default).
 */
async function hostForVolume(deps: ControlDeps, region: string, sameName: VolumeRecord[]): Promise<string> {
  if (deps.settings.hostId !== '') return deps.settings.hostId;
  const avoid = sameName.flatMap((volume) => volume.hostId ?? []);
  return chooseHost(await deps.store.listHostUsage(), { region, cpus: 0, memoryMb: 0, avoid }, deps.settings.hostLostAfterMs, deps.settings.hostId, twoAtRandom(deps.ids.int)).host.id;
}

/** Where a new volume's data comes from: a new filesystem, a volume (fork) or a snapshot (restore). */
interface Origin {
  /** The least the new volume may hold. */
  sizeGb: number;
  region?: string;
  encrypted?: boolean;
  /** A copy is made on the disk that holds what it copies: `hostId`'s. */
  bound: boolean;
  hostId?: string;
  fill(disk: VolumeHost, id: string, sizeGb: number): Promise<void>;
}

async function originOf(deps: ControlDeps, appName: string, input: CreateVolumeInput, name: string): Promise<Origin> {
  const sourceId = given(input.source_volume_id) || undefined;
  const snapshotId = given(input.snapshot_id) || undefined;
  if (sourceId !== undefined && snapshotId !== undefined) throw invalid('give source_volume_id (fork) or snapshot_id (restore), not both');
  if (typeof sourceId === 'string') {
    const source = ownVolume(await deps.store.getVolume(sourceId), sourceId, appName);
    return {
      sizeGb: source.sizeGb, region: source.region, encrypted: source.encrypted, bound: true, hostId: source.hostId,
      fill: (disk, id, size) => disk.fork(source.id, id, size),
    };
  }
  if (typeof snapshotId === 'string') {
    const { snapshot, volume } = await snapshotToRestore(deps, appName, snapshotId);
    return {
      sizeGb: snapshot.volumeSizeGb, region: volume?.region, encrypted: volume?.encrypted, bound: true, hostId: volume?.hostId,
      fill: (disk, id, size) => disk.restore(snapshot, id, size),
    };
  }
  return { sizeGb: 1, bound: false, fill: (disk, id, size) => disk.create(id, size, name) };
}

/** The app's volume, deleted ones too (they read `destroyed`). */
export async function getVolume(deps: ControlDeps, appName: string, id: string): Promise<VolumeRecord> {
  await getApp(deps, appName);
  return ownVolume(await deps.store.getVolume(id), id, appName, true);
}

/** The app's volumes made and not deleted (one being created is no one's to see yet). */
export async function listVolumes(deps: ControlDeps, appName: string): Promise<VolumeRecord[]> {
  await getApp(deps, appName);
  return (await deps.store.listVolumes(appName)).filter((volume) => volume.state === 'created');
}

export async function updateVolume(deps: ControlDeps, appName: string, id: string, input: { auto_backup_enabled?: unknown; snapshot_retention?: unknown }): Promise<VolumeRecord> {
  const volume = await liveVolume(deps, appName, id);
  const retention = given(input.snapshot_retention);
  const updated = {
    ...touched(volume, deps.clock.now()),
    autoBackupEnabled: typeof input.auto_backup_enabled === 'boolean' ? input.auto_backup_enabled : volume.autoBackupEnabled,
    snapshotRetention: retention === undefined ? volume.snapshotRetention : checkRetention(retention),
  };
  await deps.store.putVolume(updated);
  return updated;
}

/** Grows a volume; a machine using it sees the new size after its next boot. */
export async function extendVolume(deps: ControlDeps, appName: string, id: string, sizeGb: unknown): Promise<{ volume: VolumeRecord; needsRestart: boolean }> {
  const volume = await liveVolume(deps, appName, id);
  const size = checkSizeGb(sizeGb, 'size_gb', volume.sizeGb + 1);
  await deps.volumes.on(volume.hostId).extend(id, size);
  const extended = { ...touched(volume, deps.clock.now()), sizeGb: size };
  await deps.store.putVolume(extended);
  return { volume: extended, needsRestart: volume.attachedMachineId !== null };
}

export async function deleteVolume(deps: ControlDeps, appName: string, id: string): Promise<VolumeRecord> {
  const volume = await liveVolume(deps, appName, id);
  if (volume.attachedMachineId) {
    throw new HangarError('invalid_state', `volume ${id} is attached to machine ${volume.attachedMachineId}`, 'destroy the machine first');
  }
  await deps.volumes.on(volume.hostId).remove(id);
  const deleted = { ...touched(volume, deps.clock.now()), state: 'destroyed' as const };
  await deps.store.putVolume(deleted);
  await retireSnapshots(deps, deleted);
  await pruneSnapshots(deps);
  return deleted;
}

/**
 * Deletes the volumes of an app being deleted (its machines destroyed first), and
 * their snapshots at once: no app is left to restore them into. A volume still
 * being created (through another replica) goes too: that create then finds it gone.
 */
export async function deleteAppVolumes(deps: ControlDeps, appName: string): Promise<void> {
  for (const volume of await deps.store.listVolumes(appName)) {
    if (volume.state !== 'destroyed') {
      await deps.volumes.on(volume.hostId).remove(volume.id);
      await deps.store.putVolume({ ...touched(volume, deps.clock.now()), state: 'destroyed', attachedMachineId: null });
    }
    await deps.store.expireSnapshots(volume.id, deps.clock.now());
  }
  await pruneSnapshots(deps);
}

/**
 * The config with its mount describing the mounted volume (name, size_gb,
 * encrypted), as Fly echoes them, for machine create and update. A mount of a
 * volume that is not the app's is left alone: attaching it fails with not found.
 */
export async function withMountDetails(deps: ControlDeps, appName: string, config: MachineConfig): Promise<MachineConfig> {
  const mount = config.mounts?.[0];
  if (!mount) return config;
  const volume = await deps.store.getVolume(mount.volume);
  if (!volume || volume.appName !== appName || volume.state !== 'created') return config;
  return { ...config, mounts: [describeMount(mount, volume)] };
}

/**
 * Attaches the volume an updated config mounts to the machine, refused as a
 * create refuses it: 404 when the app has no such volume, 409 while another
 * machine has it, 400 when its file is on another host than the machine.
 * Answers whether this attached it (false: the machine had it already).
 */
export async function attachForUpdate(deps: ControlDeps, machine: MachineRecord, volumeId: string): Promise<boolean> {
  let attached = false;
  await deps.store.attachVolume(volumeId, machine.id, (volume) => {
    const attachable = checkAttachable(volume, volumeId, machine.appName, machine.id);
    if (attachable.hostId !== undefined && machine.hostId !== undefined && attachable.hostId !== machine.hostId) {
      throw invalid(`volume ${volumeId} is on host ${attachable.hostId} and machine ${machine.id} on host ${machine.hostId}: a machine mounts only a volume on its own host`,
        'create a machine that mounts it instead: it is placed on the volume\'s host');
    }
    if (attachable.attachedMachineId === machine.id) return attachable;
    attached = true;
    return touched(attachable, deps.clock.now());
  });
  return attached;
}

/** Whether going from `before` to `after` leaves volumes that no VM of the machine may use any more. */
export function volumesLetGo(before: MachineRecord, after: MachineRecord): boolean {
  const inUse = volumesInUse(after);
  return volumesInUse(before).some((volume) => !inUse.includes(volume));
}

/** Lets go of the volumes the machine holds that none of its VMs may use (see volumesInUse). */
export async function releaseVolumes(deps: ControlDeps, machine: MachineRecord): Promise<void> {
  await deps.store.detachVolumes(machine.id, volumesInUse(machine));
}

async function liveVolume(deps: ControlDeps, appName: string, id: string): Promise<VolumeRecord> {
  await getApp(deps, appName);
  return ownVolume(await deps.store.getVolume(id), id, appName);
}
