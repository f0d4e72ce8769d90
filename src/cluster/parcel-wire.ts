/**
 * How a move carries a snapshot's files (agent-parcels.ts). Each file is cut into
 * blocks of 1 MiB; the source lists every block's sha256, or '' for a block of
 * zeros (most of a guest's RAM). On the wire a file is a run of frames from a
 * block on, one per block: a header (a type byte, the length as 32 bits) and, for a
 * block of data, its bytes. Zeros cross as a header alone and become a hole in the
 * target's file. The target checks each block against the list as it arrives and
 * keeps only whole, checked blocks, so a broken transfer picks up at a block.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { type Static, Type } from 'typebox';
import { HangarError } from '../domain/errors.ts';
import { BLOCK_BYTES, writeAt } from '../system/block-list.ts';

const HEADER_BYTES = 5;
const DATA = 1;
const ZEROS = 0;

/** A move's id, as `randomUUID` makes them. */
export const MOVE_ID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export const ParcelFileSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z][a-z0-9._-]{0,39}$' }),
  bytes: Type.Integer({ minimum: 0, maximum: 2 ** 40 }),
  /** Per block: its sha256 (hex), or '' when it is all zeros. */
  blocks: Type.Array(Type.String({ pattern: '^([0-9a-f]{64})?$' }), { maxItems: 2 ** 16 }),
}, { additionalProperties: false });

/** What the target is told when it opens its inbox: the files, and the machine's record as stored (a host may not read another's). */
export const IncomingSchema = Type.Object({
  /** This move's id: a host takes one move of a machine at a time, and lets go only of what that move brought. */
  move: Type.String({ pattern: MOVE_ID }),
  files: Type.Array(ParcelFileSchema, { minItems: 1, maxItems: 32 }),
  machine: Type.String({ maxLength: 4 * 1024 * 1024 }),
}, { additionalProperties: false });

export type ParcelFile = Static<typeof ParcelFileSchema>;
export type Incoming = Static<typeof IncomingSchema>;


/**
 * The frames of `file` (at `path`) from block `first` on, as listed: the blocks of
 * zeros are not read, and a block of data is read once `written` says it is in the
 * file (a file still being written). A block that changed since it was listed is
 * refused by the target, which checks each against the list.
 */
export function framesOf(path: string, file: ParcelFile, first: number, written?: (index: number) => Promise<void>): Readable {
  async function* frames(): AsyncGenerator<Buffer> {
    let handle: FileHandle | undefined;
    try {
      for (let index = first; index < file.blocks.length; index++) {
        const length = Math.min(BLOCK_BYTES, file.bytes - index * BLOCK_BYTES);
        const header = Buffer.alloc(HEADER_BYTES);
        header.writeUInt32BE(length, 1);
        if (file.blocks[index] === '') {
          header.writeUInt8(ZEROS, 0);
          yield header;
          continue;
        }
        header.writeUInt8(DATA, 0);
        await written?.(index);
        handle ??= await open(path, 'r');
        // Every byte of it is written below: header, then data.
        const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
        header.copy(frame);
        const { bytesRead } = await handle.read(frame, HEADER_BYTES, length, index * BLOCK_BYTES);
        if (bytesRead !== length) throw new Error(`${file.name} is shorter than when it was listed`);
        yield frame;
      }
    } finally {
      await handle?.close();
    }
  }
  return Readable.from(frames(), { objectMode: false });
}

/**
 * Writes the frames arriving for `file` into `path`, from block `first` on; each is
 * checked against the list before it is kept. Answers the file's size once it
 * holds every whole block that arrived (what arrived of a block cut off is not kept).
 */
export async function receiveFrames(frames: AsyncIterable<Buffer>, path: string, file: ParcelFile, first: number): Promise<number> {
  const handle = await open(path, 'a+').then(async (appending) => { await appending.close(); return open(path, 'r+'); });
  let kept = first * BLOCK_BYTES;
  try {
    await handle.truncate(kept);
    // Chunks are joined only once a whole frame is there (a block arrives in many).
    let parts: Buffer[] = [];
    let size = 0;
    let needed = HEADER_BYTES;
    let index = first;
    for await (const chunk of frames) {
      parts.push(chunk);
      size += chunk.length;
      while (size >= needed) {
        const pending = parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts);
        const frame = nextFrame(pending, file, index);
        if ('needs' in frame) {
          parts = [pending];
          needed = frame.needs;
          continue;
        }
        if (frame.data) await writeAt(handle, frame.data, kept);
        kept += frame.length;
        index++;
        const rest = pending.subarray(frame.used);
        parts = rest.length > 0 ? [rest] : [];
        size = rest.length;
        needed = HEADER_BYTES;
      }
    }
    if (size > 0) throw new Error(`${file.name}: the transfer ended inside a block`);
    return kept;
  } finally {
    // Zeros at the end are a hole: the size says how far the file arrived.
    await handle.truncate(kept).catch(() => undefined);
    await handle.close();
  }
}

/** The frame at the start of `pending` (block `index` of `file`), checked; or how many bytes it needs to be whole. */
function nextFrame(pending: Buffer, file: ParcelFile, index: number): { length: number; data?: Buffer; used: number } | { needs: number } {
  const type = pending.readUInt8(0);
  const length = pending.readUInt32BE(1);
  const expected = file.blocks[index];
  const expectedLength = Math.min(BLOCK_BYTES, file.bytes - index * BLOCK_BYTES);
  if (expected === undefined || length !== expectedLength || (type !== DATA && type !== ZEROS)) {
    throw new Error(`${file.name}: block ${index} is not the one listed`);
  }
  if (type === ZEROS) {
    if (expected !== '') throw new Error(`${file.name}: block ${index} arrived as zeros, but it holds data`);
    return { length, used: HEADER_BYTES };
  }
  if (pending.length < HEADER_BYTES + length) return { needs: HEADER_BYTES + length };
  const data = pending.subarray(HEADER_BYTES, HEADER_BYTES + length);
  if (createHash('sha256').update(data).digest('hex') !== expected) throw new Error(`${file.name}: block ${index} arrived corrupted (its sha256 differs)`);
  return { length, data, used: HEADER_BYTES + length };
}

/** The block a transfer starts at, from the request's byte offset (a whole number of blocks). */
export function blockOf(query: unknown): number {
  const offset = Number((query as { offset?: unknown }).offset ?? 0);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % BLOCK_BYTES !== 0) throw new HangarError('invalid_argument', `offset must be a whole number of ${BLOCK_BYTES}-byte blocks`);
  return offset / BLOCK_BYTES;
}
