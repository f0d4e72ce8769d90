/**
 * Files seen as blocks of 1 MiB, each named by its sha256, or by '' when it is all
 * zeros: how a move lists what it carries (cluster/parcel-wire.ts), and what a
 * suspend's write-out of the guest's RAM records as it goes, so that a move of it
 * need not read the RAM again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
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

/** Every block of the file, named. */
export async function blockList(path: string): Promise<{ bytes: number; blocks: string[] }> {
  const blocks: string[] = [];
  let bytes = 0;
  for await (const block of createReadStream(path, { highWaterMark: BLOCK_BYTES }) as AsyncIterable<Buffer>) {
    bytes += block.length;
    blocks.push(blockName(block));
  }
  return { bytes, blocks };
}

/**
 * Copies `from` over `to` (whose blocks read as zeros already), writing only the
 * blocks that hold data, and answers every block's name.
 */
export async function copyDataBlocks(from: string, to: string): Promise<string[]> {
  const [source, target] = [await open(from, 'r'), await open(to, 'r+')];
  const buffer = Buffer.allocUnsafe(BLOCK_BYTES);
  const blocks: string[] = [];
  try {
    for (let position = 0; ; position += BLOCK_BYTES) {
      const { bytesRead } = await source.read(buffer, 0, BLOCK_BYTES, position);
      if (bytesRead === 0) break;
      const block = buffer.subarray(0, bytesRead);
      const name = blockName(block);
      blocks.push(name);
      if (name !== '') await writeAt(target, block, position);
    }
    return blocks;
  } finally {
    await source.close();
    await target.close();
  }
}

/** Writes all of `data` at `position` (a write may take only part of it). */
export async function writeAt(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) written += (await handle.write(data, written, data.length - written, position + written)).bytesWritten;
}
