/**
 * Files seen as blocks of 1 MiB, each named by its sha256, or by '' when it is all
 * zeros: how a move lists what it carries (cluster/parcel-wire.ts), and what a
 * suspend's write-out of the guest's RAM records before it copies the RAM, so
 * that a move of it need not read the RAM again, nor wait for the copy's end.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';

export const BLOCK_BYTES = 1 << 20;

const ZERO_BLOCK = Buffer.alloc(BLOCK_BYTES);

export function isZeros(block: Buffer): boolean {
  return block.equals(ZERO_BLOCK.subarray(0, block.length));
}

/** The block's name: '' for zeros, else its sha256 (hex). */
export function blockName(block: Buffer): string {
  return isZeros(block) ? '' : createHash('sha256').update(block).digest('hex');
}

/** Every block of `data`, named. */
export function blockNames(data: Buffer): string[] {
  const names: string[] = [];
  for (let at = 0; at < data.length; at += BLOCK_BYTES) names.push(blockName(data.subarray(at, at + BLOCK_BYTES)));
  return names;
}

/** Every block of the file, named. */
export async function blockList(path: string): Promise<{ bytes: number; blocks: string[] }> {
  const handle = await open(path, 'r');
  // One buffer for the whole file: a guest's RAM is read in a few hundred milliseconds, a new buffer per block would double that.
  const buffer = Buffer.allocUnsafe(BLOCK_BYTES);
  const blocks: string[] = [];
  let bytes = 0;
  try {
    for (;;) {
      const bytesRead = await readBlock(handle, buffer, bytes);
      if (bytesRead === 0) return { bytes, blocks };
      bytes += bytesRead;
      blocks.push(blockName(buffer.subarray(0, bytesRead)));
    }
  } finally {
    await handle.close();
  }
}

/**
 * Copies `from` over `to` (whose blocks read as zeros already), block by block in
 * order, writing only those `blocks` names as holding data; `copied(n)` is told
 * each time the first `n` blocks are in `to`.
 */
export async function copyDataBlocks(from: string, to: string, blocks: string[], copied: (count: number) => void = () => undefined): Promise<void> {
  const [source, target] = [await open(from, 'r'), await open(to, 'r+')];
  const buffer = Buffer.allocUnsafe(BLOCK_BYTES);
  try {
    for (const [index, name] of blocks.entries()) {
      if (name !== '') {
        const bytesRead = await readBlock(source, buffer, index * BLOCK_BYTES);
        // Only the last block may be short: a file shorter than its names must not come back with zeros for data.
        if (bytesRead === 0 || (bytesRead < BLOCK_BYTES && index < blocks.length - 1)) throw new Error(`${from} is shorter than its ${blocks.length} blocks`);
        await writeAt(target, buffer.subarray(0, bytesRead), index * BLOCK_BYTES);
      }
      copied(index + 1);
    }
  } finally {
    await source.close();
    await target.close();
  }
}

/** Reads the block at `position` into `buffer` whole, or up to the file's end: answers how much (a read may return less than asked). */
async function readBlock(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < BLOCK_BYTES) {
    const { bytesRead } = await handle.read(buffer, filled, BLOCK_BYTES - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Writes all of `data` at `position` (a write may take only part of it). */
export async function writeAt(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) written += (await handle.write(data, written, data.length - written, position + written)).bytesWritten;
}
