/**
 * Volumes: local ext4 files on one host, attached to at most one machine at a
 * time, outliving the machines that mounted them.
 */
import { HangarError, invalid } from './errors.ts';

export interface VolumeRecord {
  id: string;
  appName: string;
  name: string;
  region: string;
  sizeGb: number;
  state: 'created' | 'destroyed';
  attachedMachineId: string | null;
  encrypted: boolean;
  autoBackupEnabled: boolean;
  snapshotRetention: number;
  createdAt: number;
}

export const VOLUME_ID = /^vol_[a-z0-9]{16}$/;
export const VOLUME_NAME = /^[a-z0-9_]{1,30}$/;
export const MAX_VOLUME_GB = 500;

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

/** A machine may mount the volume if it is live, of the same app, and free or already its own. */
export function checkAttachable(volume: VolumeRecord | null, volumeId: string, appName: string, machineId: string): VolumeRecord {
  if (!volume || volume.appName !== appName || volume.state === 'destroyed') {
    throw new HangarError('not_found', `volume not found: ${volumeId}`);
  }
  if (volume.attachedMachineId && volume.attachedMachineId !== machineId) {
    throw new HangarError('conflict', `volume ${volumeId} is already attached to machine ${volume.attachedMachineId}`, 'a volume can be attached to one machine at a time');
  }
  return volume;
}
