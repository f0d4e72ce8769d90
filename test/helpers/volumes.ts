/** Volume test helpers: what fly-go sends, and reading and writing a volume's file as a guest would. */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { DiskSpace } from '../../src/domain/volume.ts';
import { LocalVolumes } from '../../src/volumes/local-volumes.ts';

export const MB = 1024 ** 2;
export const GB = 1024 ** 3;

/**
 * What fly-go's CreateVolumeRequest encodes to when the user set only a name (and
 * a size): its pointers have no omitempty, so every unset field is sent as null.
 */
export function flyGoCreate(name: string, size: number | null = null): Record<string, unknown> {
  return {
    name, region: '', size_gb: size, encrypted: null, require_unique_zone: null, unique_zone_app_wide: null,
    snapshot_retention: null, auto_backup_enabled: null, fstype: null, snapshot_id: null, source_volume_id: null, compute: null,
  };
}

/** Writes `text` into a volume's file at `offset` (the test's stand-in for a guest writing to its disk). */
export function writeAt(file: string, offset: number, text: string): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from(text), 0, text.length, offset);
  closeSync(fd);
}

export function readAt(file: string, offset: number, length: number): string {
  const fd = openSync(file, 'r');
  const buffer = Buffer.alloc(length);
  readSync(fd, buffer, 0, length, offset);
  closeSync(fd);
  return buffer.toString();
}

/** Real volume files on a filesystem that reports the free space the test says. */
export class ReportedSpace extends LocalVolumes {
  reported: DiskSpace = { freeBytes: 20 * GB, totalBytes: 100 * GB };
  override async space(): Promise<DiskSpace> {
    return this.reported;
  }
}
