/**
 * Volumes: local ext4 files on one host, attached to at most one machine at a
 * time, outliving the machines that mounted them.
 */
import type { MachineConfig } from './config.ts';
import type { MachineRecord } from './machine.ts';
import { HangarError, invalid } from './errors.ts';

export interface VolumeRecord {
  id: string;
  appName: string;
  name: string;
  region: string;
  sizeGb: number;
  /**
   * `creating` from the record's insert (which holds the app's volume limit) until
   * its file is made; no request sees such a volume. A create cut short leaves it
   * so, and the next start undoes it (control/interrupted.ts).
   */
  state: 'creating' | 'created' | 'destroyed';
  attachedMachineId: string | null;
  /** The host whose disk holds the file; absent for volumes made before hosts existed (on the one host). */
  hostId?: string;
  encrypted: boolean;
  autoBackupEnabled: boolean;
  snapshotRetention: number;
  createdAt: number;
  /** When it last changed (attached, detached, extended…); absent on volumes written before it was kept: `createdAt`. */
  updatedAt?: number;
}

/** When the volume last changed. */
export function volumeUpdatedAt(volume: Pick<VolumeRecord, 'createdAt' | 'updatedAt'>): number {
  return volume.updatedAt ?? volume.createdAt;
}

/** The volume as changed at `now` (never dated before its last change: clocks of two replicas may differ). */
export function touched(volume: VolumeRecord, now: number): VolumeRecord {
  return { ...volume, updatedAt: Math.max(now, volumeUpdatedAt(volume)) };
}

/**
 * The volume detached, dated `at` (the change of its machine that let go of it)
 * when that is later than its last change: a volume's last change never goes back.
 */
export function letGo(volume: VolumeRecord, at: unknown): VolumeRecord {
  const detached = { ...volume, attachedMachineId: null };
  return typeof at === 'number' && at > volumeUpdatedAt(volume) ? { ...detached, updatedAt: at } : detached;
}

/**
 * A point-in-time copy of a volume's file. Snapshots are kept while their volume
 * lives and for its `snapshotRetention` days after it is deleted (`expiresAt`).
 */
export interface VolumeSnapshotRecord {
  id: string;
  volumeId: string;
  appName: string;
  /** Bytes the copy holds on disk (it is sparse). */
  storedBytes: number;
  /** The volume's size when the snapshot was taken. */
  volumeSizeGb: number;
  createdAt: number;
  /** When it is deleted: null while its volume lives. */
  expiresAt: number | null;
}

export const DAY_MS = 24 * 60 * 60_000;

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `prefix` and 16 lowercase letters and digits, as Fly's volume ids; `int(n)` is a random integer below n. */
export function volumeStyleId(prefix: 'vol_' | 'vs_', int: (max: number) => number): string {
  return `${prefix}${Array.from({ length: 16 }, () => ID_ALPHABET[int(ID_ALPHABET.length)]).join('')}`;
}

export const VOLUME_ID = /^vol_[a-z0-9]{16}$/;
export const VOLUME_SNAPSHOT_ID = /^vs_[a-z0-9]{16}$/;
export const VOLUME_NAME = /^[a-z0-9_]{1,30}$/;
export const MAX_VOLUME_GB = 500;
/** Fly keeps snapshots 1 to 60 days, 5 unless told. */
export const MIN_RETENTION_DAYS = 1;
export const MAX_RETENTION_DAYS = 60;
export const DEFAULT_RETENTION_DAYS = 5;

/** A request field: null (what fly-go sends for a field the user left unset) is the same as absent. */
export function given(value: unknown): unknown {
  return value === null ? undefined : value;
}

export function checkVolumeName(name: unknown): string {
  if (typeof name !== 'string' || !VOLUME_NAME.test(name)) {
    throw invalid('volume name must be 1-30 lowercase letters, digits and underscores');
  }
  return name;
}

export function checkSizeGb(size: unknown, field = 'size_gb', atLeast = 1): number {
  if (!Number.isInteger(size) || (size as number) < atLeast || (size as number) > MAX_VOLUME_GB) {
    throw invalid(`${field} must be a whole number of GB from ${atLeast} to ${MAX_VOLUME_GB}`);
  }
  return size as number;
}

export function checkRetention(days: unknown): number {
  if (!Number.isInteger(days) || (days as number) < MIN_RETENTION_DAYS || (days as number) > MAX_RETENTION_DAYS) {
    throw invalid(`snapshot_retention must be a whole number of days from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}`);
  }
  return days as number;
}

/** hangar's volumes are ext4 files; Fly's other type, "raw", leaves the guest to format the device. */
export function checkFstype(fstype: unknown): 'ext4' {
  if (fstype !== undefined && fstype !== 'ext4') throw invalid(`fstype ${JSON.stringify(fstype)} is not supported: hangar volumes are ext4`);
  return 'ext4';
}

/** The volumes' filesystem: what is free (to unprivileged writers) and its size. */
export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

const GB = 1024 ** 3;
const gb = (bytes: number) => `${(Math.max(bytes, 0) / GB).toFixed(1)} GB`;

/** What hangar leaves free on the volumes' filesystem: 5 % of it, at least 1 GB. */
export function spaceMargin(totalBytes: number): number {
  return Math.max(GB, Math.ceil(totalBytes * 0.05));
}

/**
 * Refuses what may need more than the free space less the margin and less what
 * work under way on the disk is still to write (`promisedBytes`: not yet in the
 * free space). Volumes are sparse, but a volume may fill up to its size, so its
 * size is what it needs.
 */
export function checkSpace(neededBytes: number, space: DiskSpace, what: string, promisedBytes = 0): void {
  const margin = spaceMargin(space.totalBytes);
  const usable = space.freeBytes - margin - promisedBytes;
  if (neededBytes > usable) {
    const promised = promisedBytes > 0 ? ` and the ${gb(promisedBytes)} work under way on this disk will write` : '';
    throw new HangarError('insufficient_space',
      `not enough disk space for ${what}: it may need ${gb(neededBytes)}, and ${gb(usable)} is usable (${gb(space.freeBytes)} free, less the ${gb(margin)} hangar keeps free${promised})`,
      'free disk space on the host, or ask for less');
  }
}

/** The message of a volume refused past the app's limit (the store counts, with the insert). */
export function volumeLimitMessage(count: number, limit: number, appName: string): string {
  return `app ${appName} has ${count} volumes, the most hangar allows per app (${limit})`;
}

/** The app's volume `id` (a destroyed one only if `destroyedToo`; never one being created), or not found. */
export function ownVolume(volume: VolumeRecord | null, id: string, appName: string, destroyedToo = false): VolumeRecord {
  if (!volume || volume.appName !== appName || volume.state === 'creating' || (volume.state === 'destroyed' && !destroyedToo)) {
    throw new HangarError('not_found', `volume not found: ${id}`);
  }
  return volume;
}

/** A machine may mount the volume if it is made, of the same app, and free or already its own. */
export function checkAttachable(volume: VolumeRecord | null, volumeId: string, appName: string, machineId: string): VolumeRecord {
  if (!volume || volume.appName !== appName || volume.state !== 'created') {
    throw new HangarError('not_found', `volume not found: ${volumeId}`);
  }
  if (volume.attachedMachineId && volume.attachedMachineId !== machineId) {
    throw new HangarError('conflict', `volume ${volumeId} is already attached to machine ${volume.attachedMachineId}`, 'a volume can be attached to one machine at a time');
  }
  return volume;
}

/**
 * The volumes a machine's VMs may be using: those its config mounts, and while it
 * is being replaced, those of the version still running (it stops only once the
 * new version is ready, and comes back if that fails).
 */
export function volumesInUse(machine: Pick<MachineRecord, 'config' | 'replacingFrom'>): string[] {
  const mounts = [...(machine.config.mounts ?? []), ...(machine.replacingFrom?.config.mounts ?? [])];
  return [...new Set(mounts.map((mount) => mount.volume))];
}

type Mount = NonNullable<MachineConfig['mounts']>[number];

/**
 * The mount as Fly shows it: with the volume's name, size and encryption, which
 * flyctl copies into the volumes it creates for clones and `fly scale count`.
 */
export function describeMount(mount: Mount, volume: VolumeRecord): Mount {
  return { ...mount, name: volume.name, size_gb: volume.sizeGb, encrypted: volume.encrypted };
}
