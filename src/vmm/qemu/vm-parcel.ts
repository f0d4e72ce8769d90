/**
 * A suspended machine's snapshot as files to carry to another host (a move), and
 * taken in there. What travels is what a resume on this host would read: the root
 * overlay, the initramfs the VM booted with, the devices' state, the RAM as
 * written out to disk (never the copy in memory), and the records that vouch for
 * them (`launched.json`, `snapshot.json`, `snapshot.flushed`). The receiving host
 * points the overlay at its own copy of the image; whether the resume may use the
 * snapshot is then judged there as any resume's is (snapshot.ts): with the same
 * QEMU, guest kernel and CPU it resumes, else it boots cold and says why.
 */
import { mkdir, rm } from 'node:fs/promises';
import { run } from '../../commands/run.ts';
import { fsyncPath } from '../../system/fsync.ts';
import { blockNames } from '../../system/block-list.ts';
import { moveFile } from '../../system/move-file.ts';
import type { MachineSpec, PackedFile } from '../driver.ts';
import type { MachineFiles } from './machine-files.ts';
import { checkMemoryRoom, reserveMemory } from './memory-file.ts';
import {
  copyBackMemory, isFlushed, letGoOfMemory, memoryBlocksRecord, readMemoryBlocks, readSnapshot, type SnapshotInfo, snapshotFacts, snapshotProblem,
} from './snapshot.ts';
import type { VmHost } from './vm-host.ts';
import { writeOutSnapshot } from './write-out.ts';

/**
 * The files carried, by name (their names in the machine's directory), the record
 * that vouches for the rest last. The RAM's blocks' names (`memory.blocks`) go with
 * it when known, for the RAM to be copied back into memory by its blocks of data only.
 */
function parcelPaths(files: MachineFiles, withMemory: boolean, withBlocks: boolean): Array<[string, string]> {
  return [
    ['rootfs.qcow2', files.overlay],
    ['rootfs-of.json', files.overlayOf],
    ['initrd.img', files.initrd],
    ['launched.json', files.launched],
    ['vmstate', files.vmstate],
    ...(withMemory ? [['memory.ram', files.memory] as [string, string]] : []),
    ...(withMemory && withBlocks ? [['memory.blocks', files.memoryBlocks] as [string, string]] : []),
    ['snapshot.json', files.snapshot],
    ['snapshot.flushed', files.snapshotFlushed],
  ];
}

/**
 * The snapshot's files by name, refused if the machine has no whole snapshot here.
 * The RAM as written out to disk: right after a suspend, while its write-out runs
 * (write-out.ts), its blocks are listed as soon as they are named, each to be read
 * once it is on disk, and the records the write-out writes last (`memory.blocks`,
 * `snapshot.flushed`) as they will read, once they do.
 */
export async function packSnapshot(host: VmHost, machineId: string): Promise<Map<string, PackedFile>> {
  const files = host.files(machineId);
  const info = await readSnapshot(files);
  if (!info) throw new Error(`machine ${machineId} has no whole snapshot on this host`);
  if (info.forked) throw new Error(`machine ${machineId} is a fork that never ran: its memory is its parent's, which stays on this host`);
  if (host.vm(machineId) && host.vm(machineId)?.phase.is !== 'ended') throw new Error(`machine ${machineId} runs on this host`);
  if (isFlushed(files, info.id)) return packWritten(files, info);
  const writing = writeOutSnapshot(files, info.id, host.keepMemoryMs);
  const blocks = await writing.named.catch(() => undefined);
  if (!blocks) {
    // Named by no write-out: it failed (said here), or one finished in between, as from an older hangar without names.
    await writing.flushed();
    return packWritten(files, info);
  }
  const writtenLast = (path: string, content: string): PackedFile => {
    const data = Buffer.from(content);
    return { path, bytes: data.length, blocks: blockNames(data), written: () => writing.flushed() };
  };
  const whenWritten: Record<string, PackedFile> = {
    'memory.ram': { path: files.memory, bytes: info.memoryBytes, blocks, written: (index) => writing.written(index) },
    'memory.blocks': writtenLast(files.memoryBlocks, memoryBlocksRecord(info.id, blocks)),
    'snapshot.flushed': writtenLast(files.snapshotFlushed, info.id),
  };
  return new Map(parcelPaths(files, info.sharedMemory, true).map(([name, path]) => [name, whenWritten[name] ?? { path }]));
}

/** The files of a snapshot written out whole: the RAM's blocks' names as recorded, if they were. */
async function packWritten(files: MachineFiles, info: SnapshotInfo): Promise<Map<string, PackedFile>> {
  const blocks = info.sharedMemory ? await readMemoryBlocks(files, info.id) : undefined;
  const paths = parcelPaths(files, info.sharedMemory, blocks !== undefined);
  return new Map(paths.map(([name, path]) => [name, name === 'memory.ram' && blocks ? { path, blocks } : { path }]));
}

/**
 * Takes the files received (by name, in a directory of this host) as the
 * machine's snapshot here: its image prepared on this host, the files moved into
 * its directory, the record that makes them a snapshot last, and the overlay
 * pointed at this host's copy of the image.
 */
export async function unpackSnapshot(host: VmHost, spec: MachineSpec, received: Map<string, string>, prepare: () => Promise<void>): Promise<void> {
  const files = host.files(spec.machineId);
  if (host.vm(spec.machineId)) throw new Error(`machine ${spec.machineId} has a VM on this host already`);
  const expected = parcelPaths(files, received.has('memory.ram'), received.has('memory.blocks'));
  const missing = expected.filter(([name]) => !received.has(name)).map(([name]) => name);
  if (missing.length > 0) throw new Error(`the snapshot received lacks ${missing.join(', ')}`);
  await prepare();
  const prepared = await host.readPrepared(files);
  if (!prepared) throw new Error('the image was not prepared');
  await mkdir(files.dir, { recursive: true });
  // Nothing of an earlier snapshot of it may be taken for this one meanwhile.
  await rm(files.snapshotFlushed, { force: true });
  await rm(files.snapshot, { force: true });
  await rm(files.memoryBlocks, { force: true });
  for (const [name, path] of expected) {
    await moveFile(received.get(name)!, path);
    if (name === 'rootfs.qcow2') await run('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'raw', '-b', prepared.rootfsPath, path]);
    await fsyncPath(path);
  }
  await fsyncPath(files.dir);
}

/**
 * Readies a snapshot taken in, once the machine is this host's, for its resume as a
 * suspend here leaves one: its RAM in memory and a QEMU waiting for the state
 * (standby.ts), both for as long as a suspend's would be, so that the start that
 * follows a move costs what a resume here does. The RAM is copied in and QEMU
 * started in the background. A snapshot that would boot cold here (another QEMU,
 * kernel or CPU), or without the room, gets neither: its start says why.
 */
export async function readyToResume(host: VmHost, spec: MachineSpec): Promise<void> {
  const files = host.files(spec.machineId);
  const [info, prepared] = [await readSnapshot(files), await host.readPrepared(files)];
  if (!info?.sharedMemory || !prepared || host.vm(spec.machineId)) return;
  const plan = await host.plan(spec, files, prepared);
  if (snapshotProblem(info, await snapshotFacts(files, plan.launched.identity, (await host.hostFacts()).bootId))) return;
  try {
    await reserveMemory(files.memory, info.memoryBytes);
    await checkMemoryRoom(files.liveMemory, info.memoryBytes);
  } catch {
    return;
  }
  // QEMU opens the TAP as it starts: the TAP, and the RAM in memory, first, side by side.
  host.startStandby(spec.machineId, files, plan.layout, async () => {
    await Promise.all([host.keepTap(spec), copyBackMemory(files, info).then(() => letGoOfMemory(files, info.id, host.keepMemoryMs))]);
  });
}
