/**
 * The contract between the control plane and a host agent, as plain types: the
 * control plane hands effects over through `HostRuntime`; the agent reports what
 * it sees back through `ObservationSink`. Neither side imports the other.
 */
import type { MachineConfig } from './config.ts';
import type { GuestOps } from './guest-ops.ts';
import type { ImageRef } from './image-ref.ts';
import type { Effect } from './lifecycle/decision.ts';
import type { Observation } from './lifecycle/observations.ts';
import type { MachineRecord } from './machine.ts';

/** Everything a host needs to build and boot one machine version. */
export interface MachineSpec {
  machineId: string;
  appName: string;
  name: string;
  region: string;
  version: string;
  config: MachineConfig;
  imageRef: ImageRef;
  privateIp: string;
  /** The IPv4 address allocated to it on its host (absent on records written before addresses were allocated: see domain/ipv4.ts). */
  privateIpv4?: string;
  /** The host the machine is placed on (absent on records written before hosts existed). */
  hostId?: string;
  /**
   * The app's secrets by name, opened for this launch only: never stored with the
   * spec or the machine. A boot gives them to the process (domain/secrets.ts).
   */
  secrets?: Readonly<Record<string, string>>;
}

export function specOf(machine: MachineRecord): MachineSpec {
  return {
    machineId: machine.id,
    appName: machine.appName,
    name: machine.name,
    region: machine.region,
    version: machine.version,
    config: machine.config,
    imageRef: machine.imageRef,
    privateIp: machine.privateIp,
    ...(machine.privateIpv4 === undefined ? {} : { privateIpv4: machine.privateIpv4 }),
    ...(machine.hostId === undefined ? {} : { hostId: machine.hostId }),
  };
}

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
  /** The number of the signal that ended the process, if one did. */
  signal?: number;
  /** The VMM itself ended (QEMU died, or a VM that could not run was ended), not the machine's process. */
  vmm?: VmmExit;
  /** The VMM process of the VM that ended, when the driver knows it: which VM this exit is about. */
  pid?: number;
}

/** Why a machine's VMM ended, apart from any exit of its process, and the tail of its own log. */
export interface VmmExit {
  reason: string;
  log: string[];
}

/**
 * Whether a machine's VM really runs, as its VMM says (QEMU's query-status), and if
 * not, why. `reporting`: the driver saw this VM end and reports that itself (onExit).
 */
export type VmCheck = { running: true } | { running: false; vmm: VmmExit; reporting?: boolean };

/** How a pull goes, as `POST /hangar/v1/images/pull` streams it. */
export type PullProgress =
  | { status: 'resolving' }
  | { status: 'cached'; digest: string }
  | { status: 'downloading'; layer: string; done: number; total: number }
  | { status: 'unpacking'; layer: string }
  | { status: 'building' };

/** How a launch went: booted cold or resumed from the snapshot; why a resume asked for became a cold boot. */
export interface LaunchResult {
  resumed: boolean;
  pid?: number;
  coldBootReason?: string;
  /** The start came during a suspend and cancelled it: the VM never stopped. */
  suspendCancelled?: boolean;
}

/** The machine a connection to its `/.fly/api` socket comes from. */
export interface GuestIdentity {
  appName: string;
  machineId: string;
}

/**
 * What a host finds of a machine's VM after hangar restarts, asked of the VMM and
 * never assumed from a process being there. The host has already settled what it
 * could: a VM paused by an interrupted suspend is continued (or, if its state was
 * saved whole, the snapshot is recorded); one that never loaded its state is ended.
 */
export interface RecoveredVm {
  vm: 'running' | 'suspended' | 'absent';
  /** A running VM came from a resume (its VMM was started to load a snapshot). */
  resumed?: boolean;
  /** The machine version a running VM was launched with. */
  version?: string;
  /** What was found and done when the VM was not simply there: becomes an event's reason. */
  detail?: string;
}

/**
 * What the control plane asks of the host that runs a machine, and waits for the
 * answer of. (Effects reach hosts another way: queued with the commit that decided
 * them, see Store.claimWork.)
 */
export interface HostRuntime {
  /** Exec, ps, signals, memory and logs of the machines (guest-ops.ts): a host agent hands out its driver's. */
  readonly guest: GuestOps;
  /**
   * Gives each child a snapshot of the running parent to resume from (see
   * VmmDriver.fork), after the parent's queued effects; the parent runs on.
   */
  fork(parent: MachineSpec, children: MachineSpec[]): Promise<void>;
  /** Fetches an image and builds its root filesystem ahead of use, reporting progress. */
  pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef>;
}

/**
 * A file of a snapshot packed for a move: where it is, and its blocks' names if
 * they are known already (see system/block-list.ts). A file still being written
 * (the RAM right after a suspend) says its size, and when each block is in it.
 */
export interface PackedFile {
  path: string;
  blocks?: string[];
  bytes?: number;
  /** Resolves once blocks 0 to `index` are in the file; rejects if they never will be. */
  written?: (index: number) => Promise<void>;
}

/**
 * A host's side of a move: a suspended machine's snapshot as files to carry, and
 * one carried here taken in as the machine's own (see VmmDriver.packSnapshot).
 */
export interface SnapshotParcels {
  packSnapshot(machineId: string): Promise<Map<string, PackedFile>>;
  unpackSnapshot(spec: MachineSpec, received: Map<string, string>): Promise<void>;
  readyToResume(spec: MachineSpec): Promise<void>;
}

/** The host agent inside this process, as its host's recovery, watchdog and work drain use it. */
export interface LocalRuntime extends HostRuntime {
  /** Queues effects for one machine; they run in order, after any already queued. Resolves once they have run. */
  submit(spec: MachineSpec, effects: Effect[]): Promise<void>;
  /** Finds the VMs of these machines after a restart, reattaching to those still running. */
  recover(specs: MachineSpec[]): Promise<Map<string, RecoveredVm>>;
  /**
   * Queues a check that the machine's VM really runs (behind its other effects); a
   * VM that does not is ended and reported (`vm_failed`), so the restart policy applies.
   */
  checkVm(spec: MachineSpec): void;
  /** Every machine of which anything is on this host (a VM, a snapshot, files). */
  held(): Promise<string[]>;
  /** Ends the VM of a machine that is not this host's any more and removes what it left, reporting nothing. Resolves once done. */
  discard(machineId: string): Promise<void>;
  /** Resolves when every queued effect has run. */
  idle(): Promise<void>;
}

/** Where a host agent reports what happened to a machine's VM. */
export interface ObservationSink {
  observe(machineId: string, observation: Observation): Promise<void>;
}
