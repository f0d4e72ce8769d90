/**
 * How a move carries a snapshot's files (agent-parcels.ts). Each file is cut into
 * blocks of 1 MiB; the source lists every block's sha256, or '' for a block of
 * zeros (most of a guest's RAM). On the wire a file is a run of frames from a
 * block on, one per block: a header (a type byte, the length as 32 bits) and, for a
 * block of data, its bytes. Zeros cross as a header alone and become a hole in the
 * target's file. The target checks each block against the list as it arrives and
 * keeps only whole, checked blocks, so a broken transfer picks up at a block.
 */
import { createHash, type Hash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { type Static, Type } from 'typebox';
import { HangarError } from '../domain/errors.ts';
import { BLOCK_BYTES } from '../system/block-list.ts';

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
 * file (a file still being written; the reply starts only with its first frame, so
 * the replica's wait for an answer bounds that wait too). A block that changed since
 * it was listed is refused by the target, which checks each against the list.
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
 * A block's data is hashed and kept as the pieces the network delivers, and written
 * in one call once checked: never joined into one buffer (this carries a guest's RAM).
 */
export async function receiveFrames(frames: AsyncIterable<Buffer>, path: string, file: ParcelFile, first: number): Promise<number> {
  const handle = await open(path, 'a+').then(async (appending) => { await appending.close(); return open(path, 'r+'); });
  let kept = first * BLOCK_BYTES;
  try {
    await handle.truncate(kept);
    let index = first;
    let header = Buffer.alloc(0);
    // The block whose data is arriving, if any.
    let block: { length: number; missing: number; pieces: Buffer[]; hash: Hash } | undefined;
    for await (const chunk of frames) {
      let at = 0;
      while (at < chunk.length) {
        if (!block) {
          const taken = Math.min(HEADER_BYTES - header.length, chunk.length - at);
          header = Buffer.concat([header, chunk.subarray(at, at + taken)]);
          at += taken;
          if (header.length < HEADER_BYTES) break;
          const length = checkHeader(header, file, index);
          header = Buffer.alloc(0);
          if (file.blocks[index] === '') {
            kept += length;
            index++;
            continue;
          }
          block = { length, missing: length, pieces: [], hash: createHash('sha256') };
          continue;
        }
        const piece = chunk.subarray(at, at + block.missing);
        at += piece.length;
        block.pieces.push(piece);
        block.hash.update(piece);
        block.missing -= piece.length;
        if (block.missing > 0) continue;
        if (block.hash.digest('hex') !== file.blocks[index]) throw new Error(`${file.name}: block ${index} arrived corrupted (its sha256 differs)`);
        await writeAllAt(handle, block.pieces, kept);
        kept += block.length;
        index++;
        block = undefined;
      }
    }
    if (block || header.length > 0) throw new Error(`${file.name}: the transfer ended inside a block`);
    return kept;
  } finally {
    // Zeros at the end are a hole: the size says how far the file arrived.
    await handle.truncate(kept).catch(() => undefined);
    await handle.close();
  }
}

/** The length of block `index` of `file` whose frame `header` starts, once checked against the list. */
function checkHeader(header: Buffer, file: ParcelFile, index: number): number {
  const type = header.readUInt8(0);
  const length = header.readUInt32BE(1);
  const expected = file.blocks[index];
  const expectedLength = Math.min(BLOCK_BYTES, file.bytes - index * BLOCK_BYTES);
  if (expected === undefined || length !== expectedLength || (type !== DATA && type !== ZEROS)) {
    throw new Error(`${file.name}: block ${index} is not the one listed`);
  }
  if (type === ZEROS && expected !== '') throw new Error(`${file.name}: block ${index} arrived as zeros, but it holds data`);
  if (type === DATA && expected === '') throw new Error(`${file.name}: block ${index} arrived as data, but it is listed as zeros`);
  return length;
}

/** Writes all of `pieces`, one after the other, at `position` (a write may take only part of them). */
async function writeAllAt(handle: FileHandle, pieces: Buffer[], position: number): Promise<void> {
  const rest = [...pieces];
  let at = position;
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest, at);
    at += bytesWritten;
    while (rest.length > 0 && bytesWritten >= (rest[0] as Buffer).length) bytesWritten -= (rest.shift() as Buffer).length;
    if (bytesWritten > 0) rest[0] = (rest[0] as Buffer).subarray(bytesWritten);
  }
}

/** The block a transfer starts at, from the request's byte offset (a whole number of blocks). */
export function blockOf(query: unknown): number {
  const offset = Number((query as { offset?: unknown }).offset ?? 0);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % BLOCK_BYTES !== 0) throw new HangarError('invalid_argument', `offset must be a whole number of ${BLOCK_BYTES}-byte blocks`);
  return offset / BLOCK_BYTES;
}
