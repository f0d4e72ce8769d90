/** Volumes: create (empty or forked), list, show, update, extend, delete (refused while attached). */
import type { MachineConfig } from '../domain/config.ts';
import { HangarError, invalid, notFound } from '../domain/errors.ts';
import { REGION } from '../domain/names.ts';
import {
  checkFstype, checkRetention, checkSizeGb, checkVolumeName, DEFAULT_RETENTION_DAYS, describeMount, given, type VolumeRecord,
} from '../domain/volume.ts';
import { getApp } from './apps.ts';
import type { ControlDeps } from './ports.ts';

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
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Creates an empty volume, or with `source_volume_id` a fork: a copy of that
 * volume's data as it is on disk now (even while a machine writes to it), at least
 * as large, in the source's region unless told otherwise.
 */
export async function createVolume(deps: ControlDeps, appName: string, input: CreateVolumeInput): Promise<VolumeRecord> {
  await getApp(deps, appName);
  const name = checkVolumeName(input.name);
  const source = await forkSource(deps, appName, given(input.source_volume_id));
  const minGb = source?.sizeGb ?? 1;
  const sizeGb = given(input.size_gb) === undefined ? minGb : checkSizeGb(input.size_gb, 'size_gb', minGb);
  const retention = given(input.snapshot_retention) === undefined ? DEFAULT_RETENTION_DAYS : checkRetention(input.snapshot_retention);
  checkFstype(given(input.fstype));
  const region = typeof input.region === 'string' && input.region !== '' ? input.region : source?.region ?? deps.settings.defaultRegion;
  if (!REGION.test(region)) throw invalid(`region "${region}" is not a region code`);
  const id = randomId(deps, 'vol_');
  const volume: VolumeRecord = {
    id, appName, name, region, sizeGb, state: 'created', attachedMachineId: null,
    encrypted: typeof input.encrypted === 'boolean' ? input.encrypted : source?.encrypted ?? true,
    autoBackupEnabled: input.auto_backup_enabled !== false,
    snapshotRetention: retention,
    createdAt: deps.clock.now(),
  };
  if (source) await deps.volumes.fork(source.id, id, sizeGb);
  else await deps.volumes.create(id, sizeGb, name);
  await deps.store.putVolume(volume);
  return volume;
}

/** The live volume of the same app to fork, if asked for one. */
async function forkSource(deps: ControlDeps, appName: string, sourceId: unknown): Promise<VolumeRecord | undefined> {
  if (sourceId === undefined || sourceId === '') return undefined;
  if (typeof sourceId !== 'string') throw invalid('source_volume_id must be a volume id');
  const source = await deps.store.getVolume(sourceId);
  if (!source || source.appName !== appName || source.state === 'destroyed') throw notFound(`source volume not found: ${sourceId}`);
  return source;
}

/** `prefix` and 16 lowercase letters and digits, as Fly's volume ids. */
function randomId(deps: ControlDeps, prefix: string): string {
  return `${prefix}${Array.from({ length: 16 }, () => ALPHABET[deps.ids.int(ALPHABET.length)]).join('')}`;
}

export async function getVolume(deps: ControlDeps, appName: string, id: string): Promise<VolumeRecord> {
  await getApp(deps, appName);
  const volume = await deps.store.getVolume(id);
  if (!volume || volume.appName !== appName) throw notFound(`volume not found: ${id}`);
  return volume;
}

export async function listVolumes(deps: ControlDeps, appName: string): Promise<VolumeRecord[]> {
  await getApp(deps, appName);
  return (await deps.store.listVolumes(appName)).filter((volume) => volume.state !== 'destroyed');
}

export async function updateVolume(deps: ControlDeps, appName: string, id: string, input: { auto_backup_enabled?: unknown; snapshot_retention?: unknown }): Promise<VolumeRecord> {
  const volume = await liveVolume(deps, appName, id);
  const retention = given(input.snapshot_retention);
  const updated = {
    ...volume,
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
  await deps.volumes.extend(id, size);
  const extended = { ...volume, sizeGb: size };
  await deps.store.putVolume(extended);
  return { volume: extended, needsRestart: volume.attachedMachineId !== null };
}

export async function deleteVolume(deps: ControlDeps, appName: string, id: string): Promise<VolumeRecord> {
  const volume = await liveVolume(deps, appName, id);
  if (volume.attachedMachineId) {
    throw new HangarError('invalid_state', `volume ${id} is attached to machine ${volume.attachedMachineId}`, 'destroy the machine first');
  }
  await deps.volumes.remove(id);
  const deleted = { ...volume, state: 'destroyed' as const };
  await deps.store.putVolume(deleted);
  return deleted;
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
  if (!volume || volume.appName !== appName || volume.state === 'destroyed') return config;
  return { ...config, mounts: [describeMount(mount, volume)] };
}

async function liveVolume(deps: ControlDeps, appName: string, id: string): Promise<VolumeRecord> {
  const volume = await getVolume(deps, appName, id);
  if (volume.state === 'destroyed') throw notFound(`volume not found: ${id}`);
  return volume;
}
