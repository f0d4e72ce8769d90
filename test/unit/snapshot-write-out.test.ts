/**
 * A suspend snapshot's write-out (snapshot.ts): the RAM in memory copied to disk
 * once, whoever asks for it (the suspend, a move, a restart's recovery).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BLOCK_BYTES, blockList } from '../../src/system/block-list.ts';
import { machineFiles, type MachineFiles } from '../../src/vmm/qemu/machine-files.ts';
import { copyBackMemory, isFlushed, type SnapshotInfo } from '../../src/vmm/qemu/snapshot.ts';
import { writeOutSnapshot } from '../../src/vmm/qemu/write-out.ts';

const root = mkdtempSync(join(tmpdir(), 'hangar-write-out-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A suspended machine's files as a suspend leaves them: the RAM in memory, the state and the record, nothing on disk yet. */
function suspended(machineId: string, ram: Buffer): { files: MachineFiles; id: string } {
  const files = machineFiles(join(root, 'machines'), machineId, join(root, 'memory'));
  mkdirSync(files.dir, { recursive: true });
  mkdirSync(join(root, 'memory'), { recursive: true });
  writeFileSync(files.liveMemory, ram);
  writeFileSync(files.memory, '');
  writeFileSync(files.vmstate, 'state');
  const id = `snapshot-of-${machineId}`;
  const info: SnapshotInfo = {
    id, takenAt: new Date().toISOString(), launchId: 'l1', bootId: 'b1', sharedMemory: true, memoryBytes: ram.length, stateBytes: 5, stateSha256: '',
    identity: { imageDigest: 'sha256:aa', version: 'v1', argv: 'a', qemu: 'q', kernel: 'k', cpu: 'c' },
  };
  writeFileSync(files.snapshot, JSON.stringify(info));
  return { files, id };
}

describe('a snapshot\'s write-out', () => {
  // Data, zeros, data.
  const ram = Buffer.concat([randomBytes(BLOCK_BYTES), Buffer.alloc(BLOCK_BYTES), randomBytes(BLOCK_BYTES)]);

  it('is done once when asked for twice, and the RAM on disk is kept when the one in memory is let go', async () => {
    const { files, id } = suspended('m1', ram);
    // The suspend's, and a move's right after it; the RAM in memory is let go at once.
    await Promise.all([writeOutSnapshot(files, id, 0).flushed(), writeOutSnapshot(files, id, 0).flushed()]);
    assert.ok(isFlushed(files, id));
    assert.ok(!existsSync(files.liveMemory), 'the RAM in memory is let go');
    assert.ok(readFileSync(files.memory).equals(ram));
    // Asked again once it is on disk (as a move at rest would): nothing is written, and nothing lost.
    await writeOutSnapshot(files, id, 0).flushed();
    assert.ok(readFileSync(files.memory).equals(ram));
  });

  it('names the RAM\'s blocks before it copies them, and says when each is on disk', async () => {
    const { files, id } = suspended('m2', ram);
    const writing = writeOutSnapshot(files, id, 60_000);
    assert.deepEqual(await writing.named, (await blockList(files.liveMemory)).blocks);
    await writing.written(0);
    assert.ok(readFileSync(files.memory).subarray(0, BLOCK_BYTES).equals(ram.subarray(0, BLOCK_BYTES)), 'block 0 is on disk once said to be');
    await writing.written(2);
    assert.ok(readFileSync(files.memory).subarray(2 * BLOCK_BYTES).equals(ram.subarray(2 * BLOCK_BYTES)));
    await writing.flushed();
    assert.equal(readFileSync(files.snapshotFlushed, 'utf8'), id);
  });

  it('refuses the reads of a move when the snapshot is replaced before it is on disk', async () => {
    const { files, id } = suspended('m3', ram);
    writeFileSync(files.snapshot, JSON.stringify({ ...JSON.parse(readFileSync(files.snapshot, 'utf8')), id: 'a-later-one' }));
    const writing = writeOutSnapshot(files, id, 60_000);
    await assert.rejects(writing.named);
    await assert.rejects(writing.written(0), /changed before it was written out/);
    await assert.rejects(writing.flushed(), /changed before it was written out/);
    assert.ok(!isFlushed(files, id));
  });

  it('copies the RAM back into memory by its blocks of data only, as recorded, holes where zeros', async () => {
    const { files, id } = suspended('m4', ram);
    await writeOutSnapshot(files, id, 0).flushed();
    assert.ok(!existsSync(files.liveMemory));
    // As a resume calls it: the snapshot consumed (its record gone) before the RAM comes back.
    rmSync(files.snapshot);
    await copyBackMemory(files, { id, memoryBytes: ram.length });
    assert.ok(readFileSync(files.liveMemory).equals(ram));
    assert.ok(statSync(files.liveMemory).blocks * 512 <= 2 * BLOCK_BYTES, 'the block of zeros is a hole');
    // What the record names as zeros is not read: the record is what the write-out (or the move) vouched for.
    const stray = Buffer.from(ram);
    stray.fill(7, BLOCK_BYTES, 2 * BLOCK_BYTES);
    writeFileSync(files.memory, stray);
    await copyBackMemory(files, { id, memoryBytes: ram.length });
    assert.ok(readFileSync(files.liveMemory).equals(ram));
  });
});
