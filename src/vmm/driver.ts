/**
 * The VMM driver boundary: everything the host agent asks of a hypervisor. The
 * control plane never sees a driver; the agent drives one. Drivers: `qemu` (real
 * microVMs) and `fake` (timed and scriptable, for tests).
 */
import type { Duplex } from 'node:stream';
import type { ImageRef } from '../domain/image-ref.ts';
import type { ExecRequest, ExecResult, GuestOps, LogRequest, MemoryInfo, ProcessInfo } from '../domain/guest-ops.ts';
import type {
  ExitInfo, GuestIdentity, LaunchResult, MachineSpec, PackedFile, PullProgress, RecoveredVm, VmCheck, VmmExit,
} from '../domain/runtime.ts';
import type { SignalName } from '../domain/signals.ts';

export type {
  ExecRequest, ExecResult, ExitInfo, GuestIdentity, LaunchResult, LogRequest, MachineSpec, MemoryInfo, PackedFile, ProcessInfo, PullProgress, RecoveredVm, VmCheck, VmmExit,
};

/** A resume refused before it touched the snapshot (e.g. no disk space for the RAM): the snapshot may still be used. */
export class ResumeRefused extends Error {
  readonly snapshotKept = true;
  constructor(message: string) {
    super(message);
    this.name = 'ResumeRefused';
  }
}

/** Serves one connection from inside a machine (HTTP bytes both ways). */
export type GuestApiListener = (guest: GuestIdentity, stream: Duplex) => void;

/** A driver also carries out the guest operations (exec, ps, signal, memory, logs: domain/guest-ops.ts). */
export interface VmmDriver extends GuestOps {
  readonly name: string;
  /**
   * Fetches the image and builds the root filesystem; returns the resolved image reference.
   * Once `signal` aborts, it rejects with the signal's reason and stops what it was doing,
   * unless another caller still waits for the same image.
   */
  prepare(spec: MachineSpec, signal: AbortSignal): Promise<{ imageRef: ImageRef }>;
  /** Fetches an image and builds its root filesystem ahead of any machine, reporting progress. */
  pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef>;
  /**
   * Boots and resolves once the main process runs. With `resume`, continues from
   * the suspend snapshot instead when it may be used (else boots cold, saying why),
   * or carries on with a VM whose suspend was cancelled. Throws ResumeRefused when
   * the resume cannot even begin and the snapshot is kept; after any other failure
   * nothing of the launch is left (no VMM, no TAP, no RAM file).
   */
  launch(spec: MachineSpec, options: { resume: boolean }): Promise<LaunchResult>;
  /** Sends `signal`, waits up to `timeoutMs`, then kills. Resolves when the VM is gone; null if none ran. */
  stop(machineId: string, signal: SignalName, timeoutMs: number): Promise<ExitInfo | null>;
  /**
   * Saves the VM (memory included) and ends its process. If that fails, the VM is
   * left running (checked with the VMM) if it can be, and ended otherwise.
   */
  suspend(machineId: string): Promise<void>;
  /**
   * Gives each child (a new machine: its own id, address and version) a snapshot of
   * the running machine `parentId` to resume from, as the child; the parent pauses
   * only for the save and runs on. A child's `launch` with `resume` continues from
   * it. On failure the parent runs on and nothing of the children is left.
   */
  fork(parentId: string, children: MachineSpec[]): Promise<void>;
  /** Asks a suspend in progress to give up and leave the VM running (a start arrived). */
  cancelSuspend(machineId: string): void;
  discardSnapshot(machineId: string): Promise<void>;
  /**
   * The files of a suspended machine's snapshot (by name: the path on this host, and
   * the blocks' names where known), once it is on disk for good, for a move to carry
   * to another host. Throws when the machine has no whole snapshot here, or runs.
   */
  packSnapshot(machineId: string): Promise<Map<string, PackedFile>>;
  /**
   * Takes a snapshot carried from another host (the files packSnapshot named, at
   * paths of this host, which it may move) as the machine's own: a later launch
   * with `resume` continues from it, or boots cold saying why.
   */
  unpackSnapshot(spec: MachineSpec, received: Map<string, string>): Promise<void>;
  /**
   * Once a snapshot taken in is the machine's own here (its move committed): readies
   * it for the resume to come as a suspend here would (qemu: its RAM in memory and a
   * QEMU waiting for its state). Never needed: a resume without it only takes longer.
   */
  readyToResume(spec: MachineSpec): Promise<void>;
  /** Ends every VMM of the machine (checking each is gone) and removes everything it left on the host. */
  destroy(machineId: string): Promise<void>;
  /** Whether the machine's VM really runs, asked of the VMM. */
  inspect(machineId: string): Promise<VmCheck>;
  /** Ends the machine's VM at once (every VMM process of it, checked gone) without reporting an exit. */
  kill(machineId: string): Promise<void>;
  /** Registers who serves connections made inside machines to `/.fly/api`. */
  onGuestApi(listener: GuestApiListener): void;
  /** Registers the listener for exits nobody asked for (the main process ended by itself, or the VMM died). */
  onExit(listener: (machineId: string, exit: ExitInfo) => void): void;
  /** Reattaches to the VMs of these machines after a restart of hangar. */
  recover(specs: MachineSpec[]): Promise<Map<string, RecoveredVm>>;
  /** Every machine of which anything is on this host: a VM, a snapshot or files. */
  held(): Promise<string[]>;
  close(): Promise<void>;
}
