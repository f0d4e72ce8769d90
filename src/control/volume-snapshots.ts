/**
 * Volume snapshots: on-demand point-in-time copies of a volume's file, listed per
 * volume and restored into new volumes (`snapshot_id` on create). A snapshot of a
 * volume a machine is using copies what is on disk while the machine runs: hangar
 * cannot freeze the guest's filesystem, so the copy is at best crash-consistent
 * (as if the machine lost power), and only a reflink clone is taken in one instant.
 *
 * Snapshots are kept while their volume lives and for the volume's
 * `snapshot_retention` days after it is deleted; expired ones are removed by the
 * next volume or snapshot request (`pruneSnapshots`).
 */
import { notFound } from '../domain/errors.ts';
import { DAY_MS, ownVolume, type VolumeRecord, type VolumeSnapshotRecord, volumeStyleId } from '../domain/volume.ts';
import { appForCreate, getApp } from './app-lookup.ts';
import type { ControlDeps } from './ports.ts';

export interface SnapshotListing {
  volume: VolumeRecord;
  snapshots: VolumeSnapshotRecord[];
}

/** The volume's snapshots, oldest first; a deleted volume's too, until they expire. */
export async function listSnapshots(deps: ControlDeps, appName: string, volumeId: string): Promise<SnapshotListing> {
  await getApp(deps, appName);
  const volume = ownVolume(await deps.store.getVolume(volumeId), volumeId, appName, true);
  await pruneSnapshots(deps);
  return { volume, snapshots: await deps.store.listSnapshots(volumeId) };
}

/** Takes a snapshot of a live volume now, as a create in flight (an app's deletion waits for it). */
export function createSnapshot(deps: ControlDeps, appName: string, volumeId: string): Promise<{ volume: VolumeRecord; snapshot: VolumeSnapshotRecord }> {
  return deps.creates.run(appName, () => takeSnapshot(deps, appName, volumeId));
}

async function takeSnapshot(deps: ControlDeps, appName: string, volumeId: string): Promise<{ volume: VolumeRecord; snapshot: VolumeSnapshotRecord }> {
  await appForCreate(deps, appName);
  const volume = ownVolume(await deps.store.getVolume(volumeId), volumeId, appName);
  await pruneSnapshots(deps);
  const id = volumeStyleId('vs_', deps.ids.int);
  const createdAt = deps.clock.now();
  // The file first (refused by its host if it may not fit), then the record: a crash between leaves a stray file, never a record without data.
  const storedBytes = await deps.volumes.on(volume.hostId).snapshot(volumeId, id);
  const snapshot: VolumeSnapshotRecord = { id, volumeId, appName, storedBytes, volumeSizeGb: volume.sizeGb, createdAt, expiresAt: null };
  await deps.store.putSnapshot(snapshot);
  return { volume, snapshot };
}

/** The app's snapshot to restore, or not found. */
export async function snapshotToRestore(deps: ControlDeps, appName: string, id: string): Promise<{ snapshot: VolumeSnapshotRecord; volume: VolumeRecord | null }> {
  await pruneSnapshots(deps);
  const snapshot = await deps.store.getSnapshot(id);
  if (!snapshot || snapshot.appName !== appName) throw notFound(`snapshot not found: ${id}`);
  return { snapshot, volume: await deps.store.getVolume(snapshot.volumeId) };
}

/** Starts the clock on a deleted volume's snapshots. */
export async function retireSnapshots(deps: ControlDeps, volume: VolumeRecord): Promise<void> {
  await deps.store.expireSnapshots(volume.id, deps.clock.now() + volume.snapshotRetention * DAY_MS);
}

/**
 * Deletes every snapshot whose time is up: the record first, so no record outlives
 * its data. This runs on the way of other requests, so it never fails them: a
 * snapshot whose host is unreachable waits for a later prune, and a file its host
 * could not remove is logged.
 */
export async function pruneSnapshots(deps: ControlDeps): Promise<void> {
  for (const snapshot of await deps.store.listExpiredSnapshots(deps.clock.now())) {
    const volume = await deps.store.getVolume(snapshot.volumeId);
    if (deps.hostHealth?.statusOf(volume?.hostId) === 'unreachable') continue;
    await deps.store.deleteSnapshot(snapshot.id);
    await deps.volumes.on(volume?.hostId).removeSnapshot(snapshot).catch((error: unknown) => {
      deps.log.warn({ snapshotId: snapshot.id, hostId: volume?.hostId, err: error }, `the file of expired snapshot ${snapshot.id} could not be removed on its host`);
    });
  }
}
