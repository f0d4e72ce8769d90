/** What the control plane's use cases are built from. Only the composition root (src/assemble/) wires real adapters in. */
import type { Logger } from 'pino';
import type { MachineRecord } from '../domain/machine.ts';
import type { HostRuntime } from '../domain/runtime.ts';
import type { TransientState } from '../domain/states.ts';
import type { DiskSpace, VolumeSnapshotRecord } from '../domain/volume.ts';
import type { HostFence, Store } from '../store/store.ts';
import type { CreatesInFlight } from './creates-in-flight.ts';
import type { HostResolver } from './guest-images.ts';
import type { KnownApps } from './apps.ts';
import type { KnownRecords } from './known-records.ts';
import type { HostHealth, HostStatus } from './host-health.ts';
import type { MachineFeed } from './machine-feed.ts';
import type { WaitHub } from './wait-hub.ts';

export interface Clock {
  now(): number;
}

export interface Ids {
  /** A ULID: event ids, versions. Monotonic within one process. */
  ulid(): string;
  /** 14 lowercase hex characters. */
  machineId(): string;
  /** A lease nonce. */
  nonce(): string;
  /** A random integer in [0, max). */
  int(max: number): number;
}

/** A snapshot, by its id and the volume it was taken of (whose host keeps it). */
export type SnapshotRef = Pick<VolumeSnapshotRecord, 'id' | 'volumeId'>;

/**
 * The volume files on one host's disk. What may take space (create, fork,
 * snapshot, restore, extend) is refused with `insufficient_space` when it may not
 * fit, checked by the host in turn with the work under way there.
 */
export interface VolumeHost {
  create(id: string, sizeGb: number, label: string): Promise<void>;
  /** Makes volume `id` a copy of volume `sourceId`'s file as it is now (even while mounted), `sizeGb` large. */
  fork(sourceId: string, id: string, sizeGb: number): Promise<void>;
  /** Copies volume `volumeId`'s file as it is now to snapshot `snapshotId`; answers the bytes the copy holds. */
  snapshot(volumeId: string, snapshotId: string): Promise<number>;
  /** Makes volume `id` a copy of the snapshot, `sizeGb` large. */
  restore(snapshot: SnapshotRef, id: string, sizeGb: number): Promise<void>;
  removeSnapshot(snapshot: SnapshotRef): Promise<void>;
  /** Bytes volume `id`'s file holds on disk now (less than its size: it is sparse). */
  allocatedBytes(id: string): Promise<number>;
  /** Free and total bytes of the filesystem the volumes and snapshots live on. */
  space(): Promise<DiskSpace>;
  extend(id: string, sizeGb: number): Promise<void>;
  remove(id: string): Promise<void>;
}

/** The volume files of every host: this process's own, or a host agent's through its API. */
export interface VolumeHosts {
  /** Host `hostId`'s volumes; absent: the host of a volume made before hosts existed. */
  on(hostId: string | undefined): VolumeHost;
}

export interface ControlSettings {
  /** Largest guest that may be suspended (Fly: 2048 MB). */
  suspendMaxMemoryMb: number;
  /** Who holds leases taken through this API. */
  leaseOwner: string;
  /** Region of machines created without one. */
  defaultRegion: string;
  /** Registries a machine may take its image from when it updates itself through /.fly/api (host or host:port). */
  guestImageRegistries: string[];
  /** The most machines (not destroyed) an app may have. */
  maxMachinesPerApp: number;
  /** This host's number, the group after the app's /48 in new machines' private addresses. */
  hostNumber: number;
  /** This host's IPv4 range (`a.b.c.d/len`), which its machines' addresses are allocated from. */
  ipv4Range: string;
  /** The host inside this process (see hosts.ts). */
  hostId: string;
  /** Most volumes (not yet deleted) one app may have. */
  maxVolumesPerApp: number;
  /** How long a machine may stay in each transient state before it is flagged as wedged. */
  wedgedAfterMs: Partial<Record<TransientState, number>>;
  /** How often a host writes its heartbeat. */
  heartbeatMs: number;
  /** How long a host may be silent before it is declared lost (and takes no new machines). */
  hostLostAfterMs: number;
}

/** One health check's latest result. */
export interface CheckReport {
  name: string;
  status: string;
  output: string;
  updatedAt: number;
}

/** The latest health check results of machines (the edge proxy runs the checks). */
export interface HealthReports {
  statusOf(machineId: string): CheckReport[];
}

/** Where one of an app's public ports is reached from outside (the edge proxy serves them). */
export interface PublicPortReport {
  port: number;
  handlers: string[];
  /** HOST:PORT the proxy listens on for it; absent when it listens nowhere. */
  listen?: string;
  /** The `Host` (or TLS server name) that selects the app on a shared listener. */
  host?: string;
}

export interface PublicPortReports {
  portsOf(appName: string): PublicPortReport[];
  /** The IP addresses the edge proxy listens on: on one host, every app's public addresses. */
  addresses(): string[];
}

export interface ControlDeps {
  store: Store;
  runtime: HostRuntime;
  volumes: VolumeHosts;
  clock: Clock;
  ids: Ids;
  waits: WaitHub;
  /** Every committed machine change. */
  feed: MachineFeed;
  /** Machine and volume creates under way, which an app's deletion waits for. */
  creates: CreatesInFlight;
  log: Logger;
  settings: ControlSettings;
  /** Host names to addresses (DNS): where a registry a machine names really is. */
  resolveHost: HostResolver;
  /**
   * Whether a machine runs on this process's host agent, for recovery and the
   * watchdog; absent: every machine does (one process runs everything).
   */
  hosts?: (machine: MachineRecord) => boolean;
  /** A host agent of a cluster: its reports are written only as this host, at this epoch. */
  fence?: HostFence;
  /** A process with a host agent: the records of its machines it last read or wrote, which its reports are decided on first. */
  known?: KnownRecords;
  /** The apps this process made machines in (see apps.ts). */
  knownApps?: KnownApps;
  /** Tells this process's host agent that work was queued for host `hostId` (after the commit; it reads the queue). */
  workQueued?: (hostId: string) => void;
  /** An API replica's view of the hosts' health; absent: this process's own host, always ok. */
  hostHealth?: HostHealth;
  /** Set once the edge proxy runs. */
  health?: HealthReports;
  ports?: PublicPortReports;
}

/** `host_status` of what lives on host `hostId`. */
export function hostStatusOf(deps: ControlDeps, hostId: string | undefined): HostStatus {
  return deps.hostHealth?.statusOf(hostId) ?? 'ok';
}

/** The machines of `machines` that run on this process's host agent. */
export function hostedHere(deps: ControlDeps, machines: MachineRecord[]): MachineRecord[] {
  return deps.hosts ? machines.filter(deps.hosts) : machines;
}
