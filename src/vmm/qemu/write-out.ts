/**
 * A suspend snapshot's write-out: its RAM, in memory (tmpfs) after the suspend,
 * put on disk for good. It runs in the background after a suspend (and after a
 * restart that found one not done); a resume meanwhile takes the RAM from memory.
 *
 * The RAM's blocks are named first (system/block-list.ts), then copied to
 * `memory.ram` in order, data only. A move right after a suspend (vm-parcel.ts)
 * lists the blocks as soon as they are named, and sends each as soon as it is on
 * disk: it carries the RAM as written out, without waiting for the whole.
 */
import { truncate, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run } from '../../commands/run.ts';
import { blockList, copyDataBlocks } from '../../system/block-list.ts';
import { fsyncPath } from '../../system/fsync.ts';
import type { MachineFiles } from './machine-files.ts';
import { isFlushed, letGoOfMemory, memoryBlocksRecord, readMemoryBlocks, readSnapshot } from './snapshot.ts';

/** One snapshot's write-out, as it goes. */
export class WriteOut {
  readonly snapshotId: string;
  private readonly files: MachineFiles;
  /** Settles once the write-out ended; it ended with the snapshot on disk only if `flushed()` resolves. */
  readonly done: Promise<void>;
  /** The names of the RAM's blocks, once read from memory ([] when the RAM is not a file of its own). */
  readonly named: Promise<string[]>;
  private copied = 0;
  private ended = false;
  private moved = Promise.withResolvers<void>();

  constructor(files: MachineFiles, snapshotId: string, work: (named: (blocks: string[]) => void, copied: (count: number) => void) => Promise<void>) {
    this.files = files;
    this.snapshotId = snapshotId;
    const named = Promise.withResolvers<string[]>();
    this.named = named.promise;
    this.named.catch(() => undefined);
    this.done = work(named.resolve, (count) => this.step(count)).finally(() => {
      named.reject(new Error('the write-out ended before it named the blocks'));
      this.ended = true;
      this.moved.resolve();
    });
  }

  /** Resolves once the first `index + 1` blocks of the RAM are in `memory.ram`; rejects if the write-out ends first. */
  async written(index: number): Promise<void> {
    while (this.copied <= index) {
      if (this.ended) {
        await this.flushed();
        return;
      }
      await this.moved.promise;
    }
  }

  /** Resolves once the snapshot is on disk for good; rejects, saying why, if it never will be by this write-out. */
  async flushed(): Promise<void> {
    await this.done;
    if (!isFlushed(this.files, this.snapshotId)) throw new Error('the snapshot changed before it was written out to disk');
  }

  private step(count: number): void {
    this.copied = count;
    const moved = this.moved;
    this.moved = Promise.withResolvers<void>();
    moved.resolve();
  }
}

/** Write-outs under way, by machine directory: one machine's never overlap, and one snapshot's is done once. */
const writeOuts = new Map<string, WriteOut>();

/**
 * Puts snapshot `id` on disk for good, then lets go of its RAM in memory after
 * `keepMs`: the RAM copied into `memory.ram` (its space reserved at boot), it, the
 * device state and the metadata synced, then `snapshot.flushed` written. The
 * write-out of that snapshot under way, if any, is the one answered. A snapshot
 * consumed or replaced meanwhile is not marked, nor is its RAM let go.
 */
export function writeOutSnapshot(files: MachineFiles, id: string, keepMs: number): WriteOut {
  const under = writeOuts.get(files.dir);
  if (under?.snapshotId === id) return under;
  const before = under?.done.catch(() => undefined);
  const next = new WriteOut(files, id, async (named, copied) => {
    await before;
    await writeOut(files, id, keepMs, named, copied);
  });
  writeOuts.set(files.dir, next);
  void next.done.finally(() => { if (writeOuts.get(files.dir) === next) writeOuts.delete(files.dir); }).catch(() => undefined);
  return next;
}

/** Once the machine's write-out under way, if any, has ended (failed or not): nothing of it writes into the machine's directory after. */
export async function writeOutsEnded(files: MachineFiles): Promise<void> {
  for (let under = writeOuts.get(files.dir); under; under = writeOuts.get(files.dir)) {
    // Its entry is gone by then: writeOutSnapshot's `finally` runs before this await resumes.
    await under.done.catch(() => undefined);
  }
}

async function writeOut(files: MachineFiles, id: string, keepMs: number, named: (blocks: string[]) => void, copied: (count: number) => void): Promise<void> {
  const info = await readSnapshot(files);
  if (info?.id !== id) return;
  // Written out already: doing it again would clear the RAM on disk, and the one in memory may be gone.
  if (isFlushed(files, id)) {
    const blocks = info.sharedMemory ? await readMemoryBlocks(files, id) : [];
    if (blocks) named(blocks);
    copied(Number.POSITIVE_INFINITY);
    return;
  }
  if (info.sharedMemory) {
    // The file on disk is cleared (another process) while the RAM is read and named.
    // Both settle before the write-out ends, failed or not: a clearing left running would zero what a next write-out copies.
    const [listed, cleared] = await Promise.allSettled([blockList(files.liveMemory), zeroFile(files.memory, info.memoryBytes)]);
    if (listed.status === 'rejected') throw listed.reason;
    if (cleared.status === 'rejected') throw cleared.reason;
    const { blocks } = listed.value;
    named(blocks);
    // Blocks of zeros are skipped, and read back as zeros from the file just cleared; the
    // blocks' names are kept, for a move of the snapshot not to read the RAM again.
    await copyDataBlocks(files.liveMemory, files.memory, blocks, copied);
    await writeFile(files.memoryBlocks, memoryBlocksRecord(id, blocks));
  } else {
    named([]);
  }
  const written = info.sharedMemory ? [files.memory, files.memoryBlocks] : [];
  for (const path of [...written, files.vmstate, files.snapshot, dirname(files.snapshot)]) await fsyncPath(path);
  if ((await readSnapshot(files))?.id !== id) return; // consumed or replaced meanwhile
  await writeFile(files.snapshotFlushed, id);
  await fsyncPath(files.snapshotFlushed);
  await fsyncPath(dirname(files.snapshot));
  letGoOfMemory(files, id, keepMs);
}

/** Makes `path` `bytes` long and all zeros, keeping the disk space it holds (ext4, XFS: unwritten extents). */
async function zeroFile(path: string, bytes: number): Promise<void> {
  try {
    await run('fallocate', ['-z', '-o', '0', '-l', String(bytes), path], { timeout: 60_000 });
  } catch {
    await truncate(path, 0).catch(() => writeFile(path, ''));
  }
  await truncate(path, bytes);
}
