/**
 * A machine's suspend snapshot on disk, and the rules for trusting one.
 *
 * The guest's RAM lives in `memory.ram`, mapped shared by QEMU while the machine
 * runs, so suspending writes only the devices' state (`vmstate`). `snapshot.json`
 * is written last: a snapshot without it is partial and never resumed. Because
 * the RAM file becomes the running guest's memory again on resume, a snapshot
 * can be used once only. Until `snapshot.flushed` names it, the snapshot lives in
 * the host's page cache: it is trusted while the host has not rebooted since.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256OfFile } from '../../image/blob-file.ts';
import { fsyncPath } from '../../system/fsync.ts';
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
  /** This host: machine-id and host name. */
  host: string;
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
  /** The id in `snapshot.flushed`, if any. */
  flushedId?: string;
  stateBytes?: number;
  stateSha256?: string;
  memoryBytes?: number;
}

/** Why a snapshot may not be resumed, or null when it may. Pure, so the rules are tested alone. */
export function snapshotProblem(info: SnapshotInfo, facts: SnapshotFacts): string | null {
  const names: Record<keyof SnapshotIdentity, string> = {
    imageDigest: 'the image', version: 'the machine version', argv: 'the VM layout', qemu: 'QEMU', kernel: 'the guest kernel', host: 'the host',
  };
  for (const key of Object.keys(names) as Array<keyof SnapshotIdentity>) {
    if (info.identity[key] !== facts.identity[key]) return `${names[key]} changed since the snapshot was taken`;
  }
  if (info.launchId !== facts.launchId) return 'the snapshot is older than the machine\'s latest launch';
  if (info.bootId !== facts.bootId && facts.flushedId !== info.id) return 'the host restarted before the snapshot reached the disk';
  if (facts.stateBytes === undefined) return 'the snapshot\'s device state is missing';
  if (facts.stateBytes !== info.stateBytes || facts.stateSha256 !== info.stateSha256) return 'the snapshot\'s device state is corrupted';
  if (info.sharedMemory && facts.memoryBytes !== info.memoryBytes) return 'the snapshot\'s memory file is missing or truncated';
  return null;
}

async function sizeOf(path: string): Promise<number | undefined> {
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
  const launched = await readFile(files.launched, 'utf8').then((text) => JSON.parse(text) as { launchId?: string }, () => undefined);
  return {
    identity,
    bootId,
    launchId: launched?.launchId,
    flushedId: await readFile(files.snapshotFlushed, 'utf8').then((text) => text.trim(), () => undefined),
    stateBytes,
    stateSha256: stateBytes === undefined ? undefined : await sha256OfFile(files.vmstate),
    memoryBytes: await sizeOf(files.memory),
  };
}

/** Records a complete snapshot: `vmstate.saved` becomes `vmstate`, then `snapshot.json` is written. */
export async function commitSnapshot(
  files: MachineFiles, taken: Pick<SnapshotInfo, 'identity' | 'launchId' | 'bootId' | 'sharedMemory'>,
): Promise<SnapshotInfo> {
  await rename(files.vmstateSaved, files.vmstate);
  const full: SnapshotInfo = {
    id: randomUUID(),
    takenAt: new Date().toISOString(),
    ...taken,
    stateBytes: (await sizeOf(files.vmstate)) ?? 0,
    stateSha256: await sha256OfFile(files.vmstate),
    memoryBytes: (await sizeOf(files.memory)) ?? 0,
  };
  await writeFile(`${files.snapshot}.tmp`, JSON.stringify(full));
  await rename(`${files.snapshot}.tmp`, files.snapshot);
  return full;
}

/**
 * Puts the snapshot on disk for good (RAM file, device state, metadata, directory)
 * and then marks it flushed. Meant to run in the background after a suspend.
 */
export async function flushSnapshot(files: MachineFiles, id: string): Promise<void> {
  for (const path of [files.memory, files.vmstate, files.snapshot, dirname(files.snapshot)]) await fsyncPath(path);
  if ((await readSnapshot(files))?.id !== id) return; // consumed or replaced meanwhile
  await writeFile(files.snapshotFlushed, id);
  await fsyncPath(files.snapshotFlushed);
  await fsyncPath(dirname(files.snapshot));
}

/** Forgets the snapshot (metadata first, so that what remains can never be taken for one). */
export async function removeSnapshot(files: MachineFiles): Promise<void> {
  await rm(files.snapshot, { force: true });
  await rm(files.snapshotFlushed, { force: true });
  await rm(files.vmstate, { force: true });
  await rm(files.vmstatePartial, { force: true });
  await rm(files.vmstateSaved, { force: true });
}
