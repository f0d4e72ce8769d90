/**
 * Volumes as sparse ext4 files in `<data dir>/volumes/`, made and grown with
 * e2fsprogs; snapshots as copies in `volumes/snapshots/`. Forks, snapshots and
 * restores copy with cp, which clones where the filesystem can (reflink) and
 * otherwise copies only the blocks that hold data.
 *
 * Whatever may take disk space is refused here, on the host whose disk it is,
 * when it may not fit (`checkSpace`). The checks of one disk take turns, and
 * work under way counts what it is still to write (its copies, the metadata
 * mke2fs writes) as taken until it ends: requests that race for the disk are
 * judged as if they came one after another, whichever replica sends them.
 */
import { mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../commands/run.ts';
import type { SnapshotRef, VolumeHost, VolumeHosts } from '../domain/ports.ts';
import { checkSpace, type DiskSpace } from '../domain/volume.ts';
import { fsyncPath } from '../system/fsync.ts';
import { moveFile } from '../system/move-file.ts';

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
  /** Bytes the work under way on this disk is still to write. */
  private promised = 0;
  /** The last space check's turn: each waits for the one before it. */
  private turn: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.dir = dir;
  }

  path(id: string): string {
    return join(this.dir, `${id}.ext4`);
  }

  async create(id: string, sizeGb: number, label: string): Promise<void> {
    await this.withSpace(sizeGb * GB, formatBytes(sizeGb), `a ${sizeGb} GB volume`, async () => {
      await mkdir(this.dir, { recursive: true });
      await this.setSize(id, sizeGb);
      await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label.slice(0, 16), this.path(id)]);
    });
  }

  async fork(sourceId: string, id: string, sizeGb: number): Promise<void> {
    await this.withSpace(sizeGb * GB, await this.allocatedBytes(sourceId), `a ${sizeGb} GB volume`, async () => {
      await this.copy(this.path(sourceId), this.path(id));
      await this.setSize(id, sizeGb);
    });
  }

  async snapshot(volumeId: string, snapshotId: string): Promise<number> {
    const holds = await this.allocatedBytes(volumeId);
    return this.withSpace(holds, holds, `a snapshot of volume ${volumeId}`, async () => {
      const file = this.snapshotPath(snapshotId);
      await this.copy(this.path(volumeId), file);
      return (await stat(file)).blocks * 512;
    });
  }

  async restore(snapshot: SnapshotRef, id: string, sizeGb: number): Promise<void> {
    const from = this.snapshotPath(snapshot.id);
    await this.withSpace(sizeGb * GB, (await stat(from)).blocks * 512, `a ${sizeGb} GB volume`, async () => {
      await this.copy(from, this.path(id));
      await this.setSize(id, sizeGb);
    });
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

  /** Grows the file (writing nothing: it is sparse); the filesystem grows with it before the next boot that mounts it. */
  async extend(id: string, sizeGb: number): Promise<void> {
    await this.withSpace(sizeGb * GB - await this.allocatedBytes(id), 0, `volume ${id} at ${sizeGb} GB`, () => this.setSize(id, sizeGb));
  }

  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }

  /** Takes a volume's file carried here from another host (a move) as this host's, synced. */
  async adopt(id: string, from: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await moveFile(from, this.path(id));
    await fsyncPath(this.path(id));
  }

  /** The same for one of its snapshots. */
  async adoptSnapshot(snapshotId: string, from: string): Promise<void> {
    await mkdir(dirname(this.snapshotPath(snapshotId)), { recursive: true });
    await moveFile(from, this.snapshotPath(snapshotId));
    await fsyncPath(this.snapshotPath(snapshotId));
  }

  /** Copies one file of this disk to another (see copyFile). */
  protected async copy(from: string, to: string): Promise<void> {
    await copyFile(from, to);
  }

  /**
   * Runs `work` if `needed` bytes fit (see checkSpace) once the checks before this
   * one have promised what their work will write; `writes` is what this work will
   * write, promised from its check until it ends.
   */
  private async withSpace<T>(needed: number, writes: number, what: string, work: () => Promise<T>): Promise<T> {
    const checked = this.turn.then(async () => {
      checkSpace(needed, await this.space(), what, this.promised);
      this.promised += writes;
    });
    this.turn = checked.catch(() => undefined);
    await checked;
    try {
      return await work();
    } finally {
      this.promised -= writes;
    }
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
 * At most what mke2fs writes into a new volume's file: its journal (1 GiB at
 * most, for the largest volumes) and metadata (bitmaps, group descriptors: well
 * under 1/512 of the volume). A bound, not a measure.
 */
function formatBytes(sizeGb: number): number {
  return Math.min(sizeGb * GB, GB + Math.ceil((sizeGb * GB) / 512));
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
