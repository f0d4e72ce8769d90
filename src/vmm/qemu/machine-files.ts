/** Where a machine's files live on the host, under `<data dir>/machines/<id>/`. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface MachineFiles {
  dir: string;
  overlay: string;
  initrd: string;
  qmpSocket: string;
  agentSocket: string;
  consoleLog: string;
  /** QEMU's own messages (its stderr, with -D): what it said before it died. */
  qemuLog: string;
  pidFile: string;
  /** The prepared image of the current version (JSON). */
  prepared: string;
  /** What the overlay was made for: `{version, digest}` (JSON). */
  overlayOf: string;
  /**
   * Guest RAM while the VM runs, mapped shared by QEMU: a file in memory (tmpfs),
   * so what the guest dirties is never written back to a disk. After a suspend it
   * holds the snapshot's RAM until that is written out to `memory`.
   */
  liveMemory: string;
  /**
   * A fork's child, until it has resumed: the parent's RAM as it was at the fork,
   * which the child maps private (copy-on-write). A hard link, one per child, to one
   * file in a ramfs (see fork-memory.ts); the child's QEMU keeps it mapped after it goes.
   */
  forkMemory: string;
  /** The snapshot's RAM on disk: its space reserved at boot, written once per suspend (see snapshot.ts). */
  memory: string;
  /** The names of its blocks (system/block-list.ts), recorded as it is written out. */
  memoryBlocks: string;
  /** What the running VM was launched with (JSON), for the snapshot's identity. */
  launched: string;
  /**
   * The devices' state of the suspend snapshot; the same while QEMU writes it
   * (`partial`), and once it is saved whole but not yet recorded (`saved`).
   */
  vmstate: string;
  vmstatePartial: string;
  vmstateSaved: string;
  /** Where QEMU's migration stream meets hangar while saving or loading the VM state. */
  migrationSocket: string;
  /** The pid of a standby QEMU waiting for the snapshot's state (see standby.ts). */
  standby: string;
  /** The snapshot's metadata, written last (see snapshot.ts). */
  snapshot: string;
  /** The id of the snapshot once it is on disk for good. */
  snapshotFlushed: string;
}

/** `memoryDir` is a directory in memory (tmpfs) for the machines' running RAM. */
export function machineFiles(machinesDir: string, machineId: string, memoryDir: string): MachineFiles {
  const dir = join(machinesDir, machineId);
  return {
    dir,
    overlay: join(dir, 'rootfs.qcow2'),
    initrd: join(dir, 'initrd.img'),
    qmpSocket: join(dir, 'qmp.sock'),
    agentSocket: join(dir, 'agent.sock'),
    consoleLog: join(dir, 'console.log'),
    qemuLog: join(dir, 'qemu.log'),
    pidFile: join(dir, 'qemu.pid'),
    prepared: join(dir, 'prepared.json'),
    overlayOf: join(dir, 'rootfs-of.json'),
    liveMemory: join(memoryDir, `${machineId}.ram`),
    memory: join(dir, 'memory.ram'),
    memoryBlocks: join(dir, 'memory.blocks'),
    forkMemory: join(forkMemoryDir(memoryDir), `${machineId}.ram`),
    launched: join(dir, 'launched.json'),
    vmstate: join(dir, 'vmstate'),
    vmstatePartial: join(dir, 'vmstate.partial'),
    vmstateSaved: join(dir, 'vmstate.saved'),
    migrationSocket: join(dir, 'migration.sock'),
    standby: join(dir, 'standby.pid'),
    snapshot: join(dir, 'snapshot.json'),
    snapshotFlushed: join(dir, 'snapshot.flushed'),
  };
}

/**
 * Where running guests' RAM goes unless told: a directory of its own per data
 * directory in /dev/shm (tmpfs on every Linux), so two hangars never share one.
 */
export function defaultMemoryDir(machinesDir: string): string {
  return join('/dev/shm', `hangar-${createHash('sha256').update(machinesDir).digest('hex').slice(0, 12)}`);
}

/** Where forks' frozen RAM lives: a ramfs beside the memory directory (see fork-memory.ts). */
export function forkMemoryDir(memoryDir: string): string {
  return `${memoryDir}.forks`;
}

/** qemu-img argv for a copy-on-write overlay over a machine's shared base image. */
export function overlayArgv(base: string, overlay: string): string[] {
  return ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, overlay];
}

export type RootfsPersist = 'never' | 'restart' | 'always';

export interface OverlayOwner {
  version: string;
  digest: string;
}

/**
 * Whether a boot keeps the machine's writable rootfs (`config.rootfs.persist`, as
 * Fly's `persist_rootfs`): `never` starts blank every time; `restart` keeps it while
 * the machine version is the same (restarts, stop and start); `always` keeps it
 * across updates too. The overlay holds block-level changes to one image, so a
 * new image always starts blank.
 */
export function keepsRootfs(persist: RootfsPersist, previous: OverlayOwner | undefined, next: OverlayOwner): boolean {
  if (!previous || previous.digest !== next.digest) return false;
  if (persist === 'always') return true;
  return persist === 'restart' && previous.version === next.version;
}
