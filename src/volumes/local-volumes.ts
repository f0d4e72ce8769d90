/**
 * Volumes as sparse ext4 files in `<data dir>/volumes/`, made and grown with
 * e2fsprogs; snapshots as copies in `volumes/snapshots/`. Forks, snapshots and
 * restores copy with cp, which clones where the filesystem can (reflink) and
 * otherwise copies only the blocks that hold data.
 */
import { execFile } from 'node:child_process';
import { mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { SnapshotRef, VolumeHost, VolumeHosts } from '../control/ports.ts';
import type { DiskSpace } from '../domain/volume.ts';
import { fsyncPath } from '../system/fsync.ts';

const run = promisify(execFile);
const GB = 1024 ** 3;
/** A copy reads at most the volume's data (500 GB at worst); give up after an hour. */
const COPY_TIMEOUT_MS = 60 * 60_000;

/**
 * The command that copies a volume file: a reflink clone where the filesystem has
 * them (btrfs, XFS), else a copy that leaves holes for every all-zero block, so
 * a sparse file stays sparse.
 */
export function sparseCopyArgv(from: string, to: string): string[] {
  return ['cp', '--reflink=auto', '--sparse=always', '--', from, to];
}

/** One process with one disk: every volume is on it, whatever host it names. */
export function onlyHost(volumes: VolumeHost): VolumeHosts {
  return { on: () => volumes };
}

export class LocalVolumes implements VolumeHost {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(id: string): string {
    return join(this.dir, `${id}.ext4`);
  }

  async create(id: string, sizeGb: number, label: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.setSize(id, sizeGb);
    await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label.slice(0, 16), this.path(id)]);
  }

  async fork(sourceId: string, id: string, sizeGb: number): Promise<void> {
    await copyFile(this.path(sourceId), this.path(id));
    await this.setSize(id, sizeGb);
  }

  async snapshot(volumeId: string, snapshotId: string): Promise<number> {
    const file = this.snapshotPath(snapshotId);
    await copyFile(this.path(volumeId), file);
    return (await stat(file)).blocks * 512;
  }

  async restore(snapshot: SnapshotRef, id: string, sizeGb: number): Promise<void> {
    await copyFile(this.snapshotPath(snapshot.id), this.path(id));
    await this.setSize(id, sizeGb);
  }

  async removeSnapshot(snapshot: SnapshotRef): Promise<void> {
    await rm(this.snapshotPath(snapshot.id), { force: true });
  }

  async allocatedBytes(id: string): Promise<number> {
    return (await stat(this.path(id))).blocks * 512;
  }

  async space(): Promise<DiskSpace> {
    await mkdir(this.dir, { recursive: true });
    const fs = await statfs(this.dir);
    return { freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize };
  }

  snapshotPath(snapshotId: string): string {
    return join(this.dir, 'snapshots', `${snapshotId}.ext4`);
  }

  /** Grows the file; the filesystem grows with it before the next boot that mounts it. */
  async extend(id: string, sizeGb: number): Promise<void> {
    await this.setSize(id, sizeGb);
  }

  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }

  private async setSize(id: string, sizeGb: number): Promise<void> {
    const handle = await open(this.path(id), 'a');
    try {
      await handle.truncate(sizeGb * GB);
    } finally {
      await handle.close();
    }
  }
}

/**
 * Copies `from` to `to` durably: into a temporary name, synced, then renamed, so
 * `to` never names half a copy, and a copy that was answered survives a host crash.
 */
async function copyFile(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const partial = `${to}.partial`;
  await rm(partial, { force: true });
  try {
    const [command, ...args] = sparseCopyArgv(from, partial) as [string, ...string[]];
    await run(command, args, { timeout: COPY_TIMEOUT_MS });
    await fsyncPath(partial);
    await rename(partial, to);
    await fsyncPath(dirname(to));
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** Brings an unmounted volume's filesystem up to its file's size (no-op when it already is). */
export async function growFilesystem(path: string): Promise<void> {
  await run('e2fsck', ['-f', '-y', '-q', path]).catch(() => undefined);
  await run('resize2fs', ['-f', path]);
}
