/**
 * A machine's suspend snapshot, and the rules for trusting one.
 *
 * The guest's RAM lives in a file in memory (tmpfs, `liveMemory`), mapped shared
 * by QEMU while the machine runs: nothing the guest dirties is written to a disk,
 * and suspending writes only the devices' state (`vmstate`). `snapshot.json` is
 * written last: a snapshot without it is partial and never resumed. Because the
 * RAM file becomes the running guest's memory again on resume, a snapshot can be
 * used once only.
 *
 * After a suspend the RAM is written out to `memory.ram` on disk in the
 * background (write-out.ts), synced, and `snapshot.flushed` then names the snapshot; only then is
 * the in-memory copy let go (a while later: a resume soon after a suspend needs
 * no copy back). Until then the snapshot is good within the host's
 * boot (a resume takes its RAM from memory, also during the write-out); after a
 * host crash it is lost and the machine boots cold, saying why. A resume after
 * the write-out copies the RAM back into memory first.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { run } from '../../commands/run.ts';
import { sha256OfFile } from '../../image/blob-file.ts';
import { BLOCK_BYTES, copyDataBlocks } from '../../system/block-list.ts';
import type { MachineFiles } from './machine-files.ts';

/** Everything the snapshot was taken with; all of it must match for a resume. */
export interface SnapshotIdentity {
  imageDigest: string;
  version: string;
  /** sha256 of the QEMU command line (devices, memory, disks, kernel arguments). */
  argv: string;
  qemu: string;
  /** sha256 of the guest kernel and the shared initramfs. */
  kernel: string;
  /** The host's CPU model and flags (host-facts.ts); no host's name or path: a snapshot may move between hosts. */
  cpu: string;
}

export interface SnapshotInfo {
  id: string;
  takenAt: string;
  identity: SnapshotIdentity;
  /** The launch of the VM it was taken from: a snapshot of an earlier launch is stale. */
  launchId: string;
  /** The host's boot: until the RAM file is flushed, the snapshot is good only within it. */
  bootId: string;
  /** Guest RAM stayed in `memory.ram` (else the migration stream holds it). */
  sharedMemory: boolean;
  /**
   * Taken of another machine, for this one to start from (a fork): the RAM is the
   * parent's, frozen in `forkMemory`, and lives only as long as the host's boot.
   */
  forked?: boolean;
  memoryBytes: number;
  stateBytes: number;
  stateSha256: string;
}

/** What hangar sees now, to judge a snapshot by. */
export interface SnapshotFacts {
  identity: SnapshotIdentity;
  bootId: string;
  /** The machine's latest launch (from `launched.json`). */
  launchId?: string;
  /** The guest's addresses at that launch, if it recorded them (vm-plan.ts `Launched.net`). */
  net?: string[];
  /** The id in `snapshot.flushed`, if any. */
  flushedId?: string;
  stateBytes?: number;
  stateSha256?: string;
  /** Sizes of the RAM in memory, and of the RAM written out to disk. */
  liveMemoryBytes?: number;
  memoryBytes?: number;
  /** Size of a fork's frozen RAM (`forkMemory`). */
  forkMemoryBytes?: number;
}

/** Why a snapshot may not be resumed, or null when it may. Pure, so the rules are tested alone. */
export function snapshotProblem(info: SnapshotInfo, facts: SnapshotFacts): string | null {
  const names: Record<keyof SnapshotIdentity, string> = {
    imageDigest: 'the image', version: 'the machine version', argv: 'the VM layout', qemu: 'QEMU', kernel: 'the guest kernel', cpu: 'the host\'s CPU',
  };
  // Before snapshots could move, their identity named the host (and the layout its paths).
  if (info.identity.cpu === undefined) return 'the snapshot was taken by an earlier hangar, whose snapshots name their host';
  for (const key of Object.keys(names) as Array<keyof SnapshotIdentity>) {
    if (info.identity[key] !== facts.identity[key]) return `${names[key]} changed since the snapshot was taken`;
  }
  if (info.launchId !== facts.launchId) return 'the snapshot is older than the machine\'s latest launch';
  if (info.bootId !== facts.bootId && facts.flushedId !== info.id) return 'the host restarted before the snapshot reached the disk';
  if (facts.stateBytes === undefined) return 'the snapshot\'s device state is missing';
  if (facts.stateBytes !== info.stateBytes || facts.stateSha256 !== info.stateSha256) return 'the snapshot\'s device state is corrupted';
  if (info.forked && memorySource(info, facts) === undefined) return 'the memory of the machine it was forked from is gone (the host restarted, or it was removed)';
  if (info.sharedMemory && memorySource(info, facts) === undefined) return 'the snapshot\'s memory file is missing or truncated';
  return null;
}

/** Where a resume takes the snapshot's RAM from: memory (this host boot), else disk once written out whole. */
export function memorySource(info: SnapshotInfo, facts: SnapshotFacts): 'live' | 'disk' | 'fork' | undefined {
  if (info.forked) return info.bootId === facts.bootId && facts.forkMemoryBytes === info.memoryBytes ? 'fork' : undefined;
  if (info.bootId === facts.bootId && facts.liveMemoryBytes === info.memoryBytes) return 'live';
  if (facts.flushedId === info.id && facts.memoryBytes === info.memoryBytes) return 'disk';
  return undefined;
}

export async function sizeOf(path: string): Promise<number | undefined> {
  return stat(path).then((s) => s.size, () => undefined);
}

export async function readSnapshot(files: MachineFiles): Promise<SnapshotInfo | undefined> {
  try {
    return JSON.parse(await readFile(files.snapshot, 'utf8')) as SnapshotInfo;
  } catch {
    return undefined;
  }
}

/** The facts about the files on disk for `info`, to pass to `snapshotProblem`. */
export async function snapshotFacts(files: MachineFiles, identity: SnapshotIdentity, bootId: string): Promise<SnapshotFacts> {
  const stateBytes = await sizeOf(files.vmstate);
  const launched = await readFile(files.launched, 'utf8').then((text) => JSON.parse(text) as { launchId?: string; net?: unknown }, () => undefined);
  return {
    identity,
    bootId,
    launchId: launched?.launchId,
    net: Array.isArray(launched?.net) && launched.net.every((word) => typeof word === 'string') ? launched.net as string[] : undefined,
    flushedId: await readFile(files.snapshotFlushed, 'utf8').then((text) => text.trim(), () => undefined),
    stateBytes,
    stateSha256: stateBytes === undefined ? undefined : await sha256OfFile(files.vmstate),
    liveMemoryBytes: await sizeOf(files.liveMemory),
    memoryBytes: await sizeOf(files.memory),
    forkMemoryBytes: await sizeOf(files.forkMemory),
  };
}

/** Records a complete snapshot: `vmstate.saved` becomes `vmstate`, then `snapshot.json` is written. */
export async function commitSnapshot(
  files: MachineFiles, taken: Pick<SnapshotInfo, 'identity' | 'launchId' | 'bootId' | 'sharedMemory' | 'forked'>,
): Promise<SnapshotInfo> {
  await rename(files.vmstateSaved, files.vmstate);
  const full: SnapshotInfo = {
    id: randomUUID(),
    takenAt: new Date().toISOString(),
    ...taken,
    stateBytes: (await sizeOf(files.vmstate)) ?? 0,
    stateSha256: await sha256OfFile(files.vmstate),
    memoryBytes: (await sizeOf(taken.forked ? files.forkMemory : files.liveMemory)) ?? 0,
  };
  await writeFile(`${files.snapshot}.tmp`, JSON.stringify(full));
  await rename(`${files.snapshot}.tmp`, files.snapshot);
  return full;
}

/** How long a suspended machine's RAM stays in memory once written out, unless told. */
export const DEFAULT_KEEP_MS = 60_000;

/**
 * Lets go of snapshot `id`'s RAM in memory, written out whole, after `keepMs`
 * (a resume meanwhile needs no copy back). Checked and removed in one step (no
 * await between): a resume consumes the snapshot before it chooses where its RAM
 * comes from, so it never maps a file this removes.
 */
export function letGoOfMemory(files: MachineFiles, id: string, keepMs: number): void {
  const letGo = () => {
    if (readSnapshotSync(files)?.id === id && isFlushed(files, id)) rmSync(files.liveMemory, { force: true });
  };
  if (keepMs <= 0) letGo();
  else setTimeout(letGo, keepMs).unref();
}

/** Whether `snapshot.flushed` names snapshot `id`. */
export function isFlushed(files: MachineFiles, id: string): boolean {
  try {
    return readFileSync(files.snapshotFlushed, 'utf8').trim() === id;
  } catch {
    return false;
  }
}

/**
 * Copies snapshot `info`'s RAM from the disk back into memory, leaving holes where
 * it is zero: only the blocks that hold data, when the write-out (or the move that
 * brought it) recorded which those are, else every block read (`cp`). Told the
 * snapshot, not reading it: a resume has consumed `snapshot.json` by then.
 */
export async function copyBackMemory(files: MachineFiles, info: Pick<SnapshotInfo, 'id' | 'memoryBytes'>): Promise<void> {
  const partial = `${files.liveMemory}.partial`;
  await rm(partial, { force: true });
  const blocks = await readMemoryBlocks(files, info.id);
  if (blocks && blocks.length === Math.ceil(info.memoryBytes / BLOCK_BYTES)) {
    await writeFile(partial, '');
    await truncate(partial, info.memoryBytes);
    await copyDataBlocks(files.memory, partial, blocks);
  } else {
    await run('cp', ['--sparse=always', '--', files.memory, partial]);
  }
  await rename(partial, files.liveMemory);
}

/** The record of snapshot `id`'s RAM blocks' names (system/block-list.ts), as its write-out writes it to `memory.blocks`. */
export function memoryBlocksRecord(id: string, blocks: string[]): string {
  return JSON.stringify({ snapshotId: id, blocks });
}

/** The names of snapshot `id`'s RAM blocks, as its write-out recorded them. */
export async function readMemoryBlocks(files: MachineFiles, id: string): Promise<string[] | undefined> {
  const recorded = await readFile(files.memoryBlocks, 'utf8').then((text) => JSON.parse(text) as { snapshotId?: string; blocks?: unknown }, () => undefined);
  return recorded?.snapshotId === id && Array.isArray(recorded.blocks) && recorded.blocks.every((block) => typeof block === 'string') ? recorded.blocks as string[] : undefined;
}

/** Lets go of a machine's RAM files: the one in memory and the one on disk. */
export async function releaseMemory(files: MachineFiles): Promise<void> {
  await rm(files.liveMemory, { force: true });
  await rm(files.memory, { force: true });
  await rm(files.forkMemory, { force: true });
}

function readSnapshotSync(files: MachineFiles): SnapshotInfo | undefined {
  try {
    return JSON.parse(readFileSync(files.snapshot, 'utf8')) as SnapshotInfo;
  } catch {
    return undefined;
  }
}

/** Forgets the snapshot (metadata first, so that what remains can never be taken for one). */
export async function removeSnapshot(files: MachineFiles): Promise<void> {
  await rm(files.snapshot, { force: true });
  await rm(files.memoryBlocks, { force: true });
  await rm(files.snapshotFlushed, { force: true });
  await rm(files.vmstate, { force: true });
  await rm(files.vmstatePartial, { force: true });
  await rm(files.vmstateSaved, { force: true });
  await rm(files.forkMemory, { force: true });
}
