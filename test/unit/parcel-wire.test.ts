/**
 * A move's files on the wire: listed block by block, zeros crossing as a header
 * alone and arriving as a hole, every data block checked as it arrives, a broken
 * or corrupted transfer keeping only whole, checked blocks and picking up there.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { blockOf, framesOf, type ParcelFile, receiveFrames } from '../../src/cluster/parcel-wire.ts';
import { BLOCK_BYTES, blockList, copyDataBlocks } from '../../src/system/block-list.ts';

const listed = async (path: string): Promise<ParcelFile> => ({ name: 'memory.ram', ...(await blockList(path)) });

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The stream cut into small pieces, as the network delivers it. */
function inPieces(data: Buffer, size = 7919): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) pieces.push(data.subarray(at, at + size));
  return Readable.from(pieces);
}

describe('a move\'s files on the wire', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-parcel-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // Three blocks of data, two of zeros, and a short last block of data.
  const content = Buffer.concat([randomBytes(BLOCK_BYTES), Buffer.alloc(2 * BLOCK_BYTES), randomBytes(2 * BLOCK_BYTES), randomBytes(1000)]);
  const source = join(dir, 'memory.ram');
  writeFileSync(source, content);

  it('lists every block\'s sha256, zeros as empty, and sends zeros as a header alone', async () => {
    const file = await listed(source);
    assert.equal(file.bytes, content.length);
    assert.deepEqual(file.blocks.map((block) => (block === '' ? 'zeros' : 'data')), ['data', 'zeros', 'zeros', 'data', 'data', 'data']);
    const wire = await bytesOf(framesOf(source, file, 0));
    assert.equal(wire.length, content.length - 2 * BLOCK_BYTES + 6 * 5, 'the zero blocks cost 5 bytes each');
  });

  it('writes what arrives, zeros as a hole, and answers the size once whole', async () => {
    const file = await listed(source);
    const target = join(dir, 'received');
    writeFileSync(target, '');
    assert.equal(await receiveFrames(inPieces(await bytesOf(framesOf(source, file, 0))), target, file, 0), content.length);
    assert.ok(readFileSync(target).equals(content));
    assert.ok(statSync(target).blocks * 512 < content.length - BLOCK_BYTES, 'the zeros take no space');
  });

  it('keeps only the whole, checked blocks of a transfer cut off or corrupted, and picks up there', async () => {
    const file = await listed(source);
    const target = join(dir, 'resumed');
    writeFileSync(target, '');
    const wire = await bytesOf(framesOf(source, file, 0));
    // Cut inside block 3 (after the two headers of zeros).
    const cut = 5 + BLOCK_BYTES + 10 + 5 + 4096;
    await assert.rejects(receiveFrames(inPieces(wire.subarray(0, cut)), target, file, 0), /ended inside a block/);
    assert.equal(statSync(target).size, 3 * BLOCK_BYTES, 'blocks 0 to 2 are kept');
    // Block 3 sent again, corrupted: refused, nothing of it kept.
    const resent = await bytesOf(framesOf(source, file, 3));
    resent[5 + 100] = (resent[5 + 100] as number) ^ 0xff;
    await assert.rejects(receiveFrames(inPieces(resent), target, file, 3), /block 3 arrived corrupted/);
    assert.equal(statSync(target).size, 3 * BLOCK_BYTES);
    // A frame of zeros where the list says data is refused too.
    const lying = Buffer.alloc(5);
    lying.writeUInt32BE(BLOCK_BYTES, 1);
    await assert.rejects(receiveFrames(Readable.from([lying]), target, file, 3), /arrived as zeros, but it holds data/);
    assert.equal(await receiveFrames(inPieces(await bytesOf(framesOf(source, file, 3))), target, file, 3), content.length);
    assert.ok(readFileSync(target).equals(content));
  });

  it('writes RAM out block by block, in order, data only', async () => {
    const target = join(dir, 'written-out');
    writeFileSync(target, Buffer.alloc(content.length));
    const copied: number[] = [];
    await copyDataBlocks(source, target, (await listed(source)).blocks, (count) => copied.push(count));
    assert.ok(readFileSync(target).equals(content));
    assert.deepEqual(copied, [1, 2, 3, 4, 5, 6]);
    // A file shorter than its names is refused, not copied with zeros where data was named.
    const short = join(dir, 'short');
    writeFileSync(short, content.subarray(0, 4 * BLOCK_BYTES));
    await assert.rejects(copyDataBlocks(short, target, (await listed(source)).blocks), /shorter than its 6 blocks/);
  });

  it('takes frames however the network cuts them, headers included', async () => {
    const small = join(dir, 'small');
    const data = randomBytes(3000);
    writeFileSync(small, data);
    const file = await listed(small);
    const target = join(dir, 'small-received');
    writeFileSync(target, '');
    assert.equal(await receiveFrames(inPieces(await bytesOf(framesOf(small, file, 0)), 2), target, file, 0), data.length);
    assert.ok(readFileSync(target).equals(data));
  });

  it('reads a block of a file still being written only once it is in the file', async () => {
    const file = await listed(source);
    const growing = join(dir, 'growing');
    const written: number[] = [];
    const gate = Promise.withResolvers<void>();
    const stream = framesOf(growing, file, 0, async (index) => {
      await gate.promise;
      written.push(index);
    });
    const arriving = bytesOf(stream);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The file appears, whole, once the gate opens: nothing was read before.
    writeFileSync(growing, content);
    gate.resolve();
    const target = join(dir, 'from-growing');
    writeFileSync(target, '');
    assert.equal(await receiveFrames(inPieces(await arriving), target, file, 0), content.length);
    assert.ok(readFileSync(target).equals(content));
    assert.deepEqual(written, [0, 3, 4, 5], 'asked for the blocks of data only');
  });

  it('takes offsets only on a block\'s start', () => {
    assert.equal(blockOf({ offset: String(2 * BLOCK_BYTES) }), 2);
    for (const offset of ['1', '-1048576', 'x', String(2 ** 60)]) assert.throws(() => blockOf({ offset }), /whole number/);
  });
});
