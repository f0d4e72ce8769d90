/**
 * The ports the floors of hangar share: what time and ids are, what a host's
 * volume files offer, and what the edge proxy reports of health checks and public
 * ports. Declared here, at the bottom, so that the adapters that implement them
 * (system/, volumes/, proxy/) and the use cases that call them (control/) both
 * depend downward.
 */
import type { ImageRef } from './image-ref.ts';
import type { MachineRecord } from './machine.ts';
import type { MachineConfig } from './config.ts';
import type { MachineState } from './states.ts';
import type { DiskSpace, VolumeSnapshotRecord } from './volume.ts';

export interface Clock {
  now(): number;
}

/** The digest a registry gives a reference's tag now (of its linux/amd64 image). */
export type TagPins = (ref: ImageRef, signal: AbortSignal) => Promise<string>;

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

/** What a move carries: the machine's suspend snapshot (if it has one), the volumes it mounts and their snapshots. */
export interface Load {
  snapshot: boolean;
  volumes: string[];
  volumeSnapshots: string[];
}

/** How much a move carried, and how long each step took (ms). */
export interface Carried {
  /** The move's id, which the target took the snapshot in under (for `drop`). */
  move: string;
  bytes: number;
  /** Blocks of 1 MiB that held data (the rest, zeros, cross as a header alone). */
  dataBlocks: number;
  ms: { pack: number; copy: number; unpack: number };
}

/**
 * Carries a suspended machine's snapshot from its host to another (a move), over
 * the hosts' agent APIs: resumable (a broken transfer picks up where it stopped),
 * every file checked against its sha256 before the target takes it in.
 */
export interface SnapshotCarrier {
  carry(machine: MachineRecord, toHostId: string, load: Load): Promise<Carried>;
  /** Lets go of what the target received or took in of move `move`, which did not commit. */
  drop(machineId: string, toHostId: string, move: string): Promise<void>;
  /** Once the move committed: the host the machine left removes its copies of the volumes carried. */
  releaseVolumes(fromHostId: string, load: Load): Promise<void>;
  /** Once the move committed: the target lets go of the inbox and readies the snapshot for the machine's resume there. */
  settle(machineId: string, toHostId: string, move: string): Promise<void>;
}

/** The volume files of every host: this process's own, or a host agent's through its API. */
export interface VolumeHosts {
  /** Host `hostId`'s volumes; absent: the host of a volume made before hosts existed. */
  on(hostId: string | undefined): VolumeHost;
}

/** One health check's latest result. */
export interface CheckReport {
  name: string;
  status: string;
  output: string;
  updatedAt: number;
}

/**
 * The latest health check results of machines: the edge proxy's own (one hangar),
 * or what the hosts that run them recorded (a cluster).
 */
export interface HealthReports {
  /** The results of each of `machineIds` that has checks. */
  checksOf(machineIds: readonly string[]): Promise<Map<string, CheckReport[]>>;
}

/** Where the hosts of a cluster record their machines' check results, for every replica to read. */
export interface CheckRecords extends HealthReports {
  /** Replaces machine `machineId`'s results with `checks` ([]: it has none now). */
  putChecks(machineId: string, checks: readonly CheckReport[]): Promise<void>;
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

/** Who holds a host number: the host that claimed it, or the one that has it already. */
export interface HostNumberClaim {
  number: number;
  heldBy: string;
}

export interface HostNumbers {
  /**
   * Host `hostId`'s number: the one it has, else `wanted` (unless another host has
   * it: then that host is named and nothing is written), else the lowest free.
   */
  claim(hostId: string, wanted?: number): Promise<HostNumberClaim>;
}

/** How a host's peers reach its machines: WireGuard (its public key) or a plain tunnel. */
export type UnderlayKind = 'wireguard' | 'plain';

/** What a host publishes of its end of the private network: never a secret. */
export interface UnderlayEnd {
  kind: UnderlayKind;
  /** `IP:PORT` (`[IPv6]:PORT`) where peers send its packets. */
  endpoint: string;
  /** WireGuard's public key (base64); absent for a plain tunnel. */
  publicKey?: string;
}

/** A host of the cluster as the private network sees it. */
export interface MeshHost extends UnderlayEnd {
  hostId: string;
  hostNumber: number;
}

/** The cluster's private network as every host may read it. */
export interface MeshDirectory {
  /** Records this host's end (its own only). */
  publish(hostId: string, end: UnderlayEnd): Promise<void>;
  /** Every host's published end, with its number. */
  hosts(): Promise<MeshHost[]>;
}

/** A machine as the cluster's private DNS sees it: where it is and what it answers as, nothing of its config. */
/**
 * A machine as the edge proxy routes to it: a whole record in one hangar, and on a
 * cluster's host what the directory gives of any host's machine.
 */
export interface ProxyMachine {
  id: string;
  appName: string;
  region: string;
  /** The host it is placed on (absent on records written before hosts existed). */
  hostId?: string;
  state: MachineState;
  cordoned: boolean;
  /** As far as routing needs it: its services, checks, size and metadata. */
  config: MachineConfig;
  privateIp: string;
  createdAt: number;
  /** Its current version: its checks start again when it changes. */
  version: string;
  /** The record's revision, where known: an older one never replaces a newer. */
  rev?: number;
  /** Why its config cannot be used: it gets no traffic. */
  configProblem?: string;
}

export interface DirectoryMachine {
  id: string;
  appName: string;
  region: string;
  hostId: string;
  privateIp: string;
  state: string;
  /** `config.dns.skip_registration`: kept out of the answers. */
  skipRegistration: boolean;
  /** `config.metadata.fly_process_group`. */
  processGroup?: string;
  /** What the edge proxy routes by, where the directory gives it. */
  routing?: DirectoryRouting;
  /** Its address was kept when it moved here from another host (so it lies in that host's /64): routed as a /128. */
  movedAddress?: true;
}

export interface DirectoryRouting {
  cordoned: boolean;
  createdAt: number;
  version: string;
  /** The config as far as routing needs it (services, checks, size, metadata, PRIMARY_REGION); absent when it does not pass the rules. */
  config?: MachineConfig;
}

/** Every host's machines as the private DNS needs them, which a host may read though it may not read other hosts' machines. */
export interface MachineDirectory {
  /** The place in the commit order before which every commit has landed now. */
  horizon(): Promise<string>;
  /** Every machine not destroyed (without `from`), or every one changed between `from` and the horizon now (the destroyed too); and that horizon. */
  since(from?: string): Promise<{ items: DirectoryMachine[]; horizon: string }>;
  /** Every app's name and organization. */
  apps(): Promise<AppOrg[]>;
  /** The hosts declared lost (or written off). */
  lostHosts(): Promise<string[]>;
}

/** What one host's edge proxy asks of a machine on another host. */
export type RequestedAction = 'start' | 'stop' | 'suspend';

export interface MachineRequest {
  machineId: string;
  appName: string;
  action: RequestedAction;
}

/** Requests for machines on other hosts, which a host may not change itself: each is taken by the machine's own host. */
export interface MachineRequests {
  /** Asks the host of machine `machineId` to take `action`; answers that host, or undefined when there is no such machine. */
  ask(machineId: string, action: RequestedAction): Promise<string | undefined>;
  /** Takes the requests for host `hostId`'s machines, each once. */
  take(hostId: string): Promise<MachineRequest[]>;
}

/** One host's proxy's traffic to one machine. */
export interface MachineActivity {
  machineId: string;
  inFlight: number;
  /** When its last request through that proxy began or ended (unix ms). */
  lastActive: number;
}

/** Every host's proxy's traffic to every machine, each host writing its own. */
export interface ProxyActivity {
  /** Writes this host's activity of these machines, and removes its rows of machines `gone`. */
  publish(hostId: string, changed: readonly MachineActivity[], gone: readonly string[]): Promise<void>;
  /** The other hosts' activity; `inFlight` counts only from hosts that wrote within `freshMs`. */
  others(hostId: string, freshMs: number): Promise<MachineActivity[]>;
}

/** An app as the private DNS knows it: its name and its organization. */
export interface AppOrg {
  name: string;
  orgSlug: string;
}

/**
 * Seals and opens app secrets (system/secret-keys.ts). Absent from a process given
 * no key: there, secrets can be neither written nor given to machines.
 */
export interface SecretSealer {
  seal(appName: string, name: string, value: string): string;
  /** Throws, saying why, if the value cannot be opened (another key, altered, moved). */
  open(appName: string, name: string, sealed: string): string;
  digest(appName: string, value: string): string;
  /** Whether `sealed` is sealed with the key that seals now. */
  sealedWithCurrent(sealed: string): boolean;
}
