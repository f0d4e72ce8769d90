/**
 * Persistence behind one interface. SQLite backs a single host; the interface is
 * asynchronous so that a PostgreSQL store can serve many. Every write of a machine
 * is one transaction holding its record, its events and any new version, and is
 * refused (`StaleWriteError`) when the record changed since it was read.
 */
import type { App, MachineEvent, MachineRecord, MachineVersion } from '../domain/machine.ts';
import type { HostIdentity, HostRecord, HostState, HostUsage } from '../domain/host.ts';
import type { Effect } from '../domain/lifecycle/decision.ts';
import type { ImageRef } from '../domain/image-ref.ts';
import type { CheckRecords, HostNumbers, MachineDirectory, MachineRequests, MeshDirectory, ProxyActivity } from '../domain/ports.ts';
import type { MachineSpec } from '../domain/runtime.ts';
import type { ReleaseRecord } from '../domain/releases.ts';
import type { E2bRecordStore } from './e2b-records.ts';
import type { SecretRecord } from '../domain/secrets.ts';
import type { VolumeRecord, VolumeSnapshotRecord } from '../domain/volume.ts';

export interface MachineFilter {
  includeDeleted?: boolean;
  region?: string;
  states?: string[];
  metadata?: Record<string, string>;
}

/** A page of an organization's machines, oldest `updatedAt` first. */
export interface OrgMachineQuery extends MachineFilter {
  /** Only machines updated after this (unix ms). */
  updatedAfter?: number;
  /** Resume after this machine, at the place in the commit order its listing gave (`at`). */
  after?: { at: string; id: string };
  limit: number;
}

/**
 * Machines' changes in the order of their commits, from a place in that order (a
 * horizon): everything committed before it has been read, so reading from it
 * again after a lost connection misses nothing.
 */
export interface ChangeLog {
  /** The place in the commit order before which every commit has landed now. */
  horizon(): Promise<string>;
  /** The machines (as they are now) whose last commit lies between `from` and the horizon now, and that horizon. */
  since(from: string): Promise<{ machines: MachineRecord[]; horizon: string }>;
}

/** A page of an organization's volumes, in the order of their last commits. */
export interface OrgVolumeQuery {
  includeDeleted?: boolean;
  region?: string;
  states?: string[];
  /** Only volumes changed after this (unix ms). */
  updatedAfter?: number;
  /** Resume after this volume, at the place in the commit order its listing gave (`at`). */
  after?: { at: string; id: string };
  limit: number;
}

/** An app's secrets as stored (sealed), and its secrets version: how many changes it has had. */
export interface StoredSecrets {
  version: number;
  secrets: SecretRecord[];
}

/** What one change to an app's secrets writes: secrets set (whole records) and names unset. */
export interface SecretWrite {
  set: SecretRecord[];
  unset: string[];
}

/** App secrets, sealed (system/secret-keys.ts): the store never sees a value in clear. */
export interface SecretStore {
  /** The app's secrets by name, and its secrets version (0: never changed). */
  readSecrets(appName: string): Promise<StoredSecrets>;
  /** The app's secrets by name alone: what a host, which may not read apps, reads to boot its machines. */
  readSecretRecords(appName: string): Promise<SecretRecord[]>;
  /**
   * One change, in one transaction that moves the app's secrets version on by one:
   * `decide` is given the secrets as they are in it and says what to write (it may
   * throw to refuse, and nothing is written). AppGoneError if the app is missing.
   */
  changeSecrets(appName: string, decide: (now: StoredSecrets) => SecretWrite): Promise<StoredSecrets>;
  /** Seals secret `name` anew (a rekey), if it is still sealed as `from`: whether it was. The version stays. */
  resealSecret(appName: string, name: string, from: string, to: string): Promise<boolean>;
  /** The apps that have secrets. */
  listAppsWithSecrets(): Promise<string[]>;
}

/** An app's releases (domain/releases.ts), one document each. */
export interface ReleaseStore {
  /**
   * A new release of the app, numbered one past its newest, in one transaction:
   * `make` is given that number and the newest release (it may throw to refuse).
   * AppGoneError if the app is missing or being deleted.
   */
  createRelease(appName: string, make: (version: number, newest: ReleaseRecord | null) => ReleaseRecord): Promise<ReleaseRecord>;
  /** Rewrites one release in a transaction of its own (`change` may throw to refuse); null when there is none. */
  changeRelease(appName: string, version: number, change: (now: ReleaseRecord) => ReleaseRecord): Promise<ReleaseRecord | null>;
  /** The app's newest `limit` releases, newest first; one whose document is unreadable is skipped. */
  listReleases(appName: string, limit: number): Promise<ReleaseRecord[]>;
  readRelease(appName: string, version: number): Promise<ReleaseRecord | null>;
  /** A release found by its id alone, whatever its app. */
  findRelease(id: string): Promise<ReleaseRecord | null>;
}

export interface AppWithCounts extends App {
  machineCount: number;
  /** Its machines not destroyed, by state (absent where a store read the app without them). */
  machineStates?: Record<string, number>;
}

/** A machine with its newest few events, as listings show it. */
export interface MachineListing {
  machine: MachineRecord;
  events: MachineEvent[];
}

/** A row whose document is not the record it should hold; a version's id is `machineId/version`. */
export interface UnreadableRecord {
  kind: 'volume' | 'volume_snapshot' | 'machine_version' | 'machine_event' | 'release';
  id: string;
  problem: string;
}

/** The host port the edge proxy listens on for one app's public TCP port. */
export interface PublicPortRecord {
  appName: string;
  port: number;
  hostPort: number;
}

export interface MachineWrite {
  machine: MachineRecord;
  events: MachineEvent[];
  version?: MachineVersion;
  /**
   * Effects for the machine's host, queued in the same transaction (the outbox): a
   * process that dies right after the commit loses nothing, and work reaches a
   * host one way, whoever decided it.
   */
  effects?: Effect[];
  /**
   * A host agent's own report: written only if the machine is placed on
   * `hostId` and the host still has `epoch` (it was not registered again since).
   */
  fence?: HostFence;
}

export interface HostFence {
  hostId: string;
  epoch: number;
}

/** Effects for one machine, for the host it is placed on, as its commit queued them. */
export interface HostWork {
  hostId: string;
  /** The machine's revision written by the commit that queued the work. */
  rev: number;
  spec: MachineSpec;
  effects: Effect[];
}

/** A piece of queued work with its place in the queue. */
export interface QueuedWork extends HostWork {
  id: number;
  /**
   * The record of the machine the work names, read in the statement that read the
   * work (null: it has none), where the store reads them together; absent where
   * it does not (the host agent's check then reads it).
   */
  machine?: MachineRecord | null;
}

/** How a registration treats a host another instance holds. */
export interface RegisterOptions {
  /** Register even while another instance is heard from (its server was replaced). */
  takeOver: boolean;
  /** A holder heard from within this long is alive. */
  freshMs: number;
}


export interface Store extends SecretStore, ReleaseStore, E2bRecordStore {
  /** Creates an app, allocating its network number; throws DuplicateError for a taken name. */
  createApp(app: Omit<App, 'netNumber' | 'deleting'>): Promise<App>;
  getApp(name: string): Promise<App | null>;
  /** The app with its machine count (a scan of its machines: for showing apps, not for every request). */
  getAppWithCounts(name: string): Promise<AppWithCounts | null>;
  listApps(orgSlug?: string): Promise<AppWithCounts[]>;
  /** Marks the app as being deleted, so that no machine is inserted into it any more; null if there is no such app. */
  markAppDeleting(name: string): Promise<App | null>;
  /**
   * Deletes the app and every record of it, in one transaction; throws
   * LiveMachinesError, deleting nothing, while a machine of it is not destroyed
   * (its VM may still exist).
   */
  deleteApp(name: string): Promise<void>;

  /** Allocates the next machine number of this host (for addresses). */
  nextMachineNumber(): Promise<number>;
  /**
   * Inserts a new machine with its first version; throws DuplicateError for a taken
   * name, LimitError when its app already has `maxLive` machines not destroyed, and
   * AppGoneError when its app does not exist or is being deleted, or (given
   * `appId`, the app's id as the caller read it) is another app of that name now.
   * With `place`, the machine inserted is the one `place` makes of `write.machine`
   * given every host's usage; the host's room is checked again, with the host's
   * reservation locked, in the insert's transaction, so that no two creates can
   * overbook a host (`place` throws to refuse). A cluster's store inserts what
   * `write.ifImageHeld` makes of the placed machine instead, when its host holds
   * the machine's image (see holdImage).
   */
  insertMachine(write: MachineInsert, maxLive?: number, place?: Placer): Promise<MachineRecord>;
  /**
   * Writes a changed machine; `write.machine.rev` must be the rev it was read at. Returns it
   * with the new rev. A machine written as destroyed lets go of its volumes in the same
   * transaction, so no crash or reader can find a volume held by a destroyed machine.
   */
  commit(write: MachineWrite): Promise<MachineRecord>;
  getMachine(appName: string, id: string): Promise<MachineRecord | null>;
  getMachineById(id: string): Promise<MachineRecord | null>;
  /** A machine with its newest few events, in one read. */
  getListing(appName: string, id: string): Promise<MachineListing | null>;
  listMachines(appName: string, filter: MachineFilter): Promise<MachineListing[]>;
  /** The ids and revs of the machines `listMachines` would return, in the same order: cheap. */
  listMachineRevs(appName: string, filter: MachineFilter): Promise<Array<{ id: string; rev: number }>>;
  /** Listings of these machines (any order). */
  getListings(ids: string[]): Promise<MachineListing[]>;
  /**
   * An organization's machines in the order of their last commits, oldest first, each
   * with its place in that order (`at`, opaque) to resume after. A machine committed
   * later never lands before a place already handed out: a reader that resumes from
   * its last `at` misses no commit (PostgreSQL holds back rows of transactions that
   * may still be overtaken by one in flight).
   */
  listOrgMachines(orgSlug: string, query: OrgMachineQuery): Promise<Array<{ machine: MachineRecord; appName: string; at: string }>>;
  /** Machines of every app not yet destroyed (or of host `hostId` only): for recovery, the watchdog and writing a host off. */
  listLiveMachines(hostId?: string): Promise<MachineRecord[]>;
  /** Rows that hold no usable machine document (skipped by every read above), with why. */
  listUnreadableMachines(): Promise<Array<{ id: string; problem: string }>>;
  /**
   * Rows of volumes, snapshots, versions and events that hold no usable document,
   * with why: every read skips them (a lookup of one finds nothing). Reads every
   * row: for start-up, not for requests.
   */
  listUnreadableRecords(): Promise<UnreadableRecord[]>;
  /** Machines of every app in one of these states. */
  listMachinesInStates(states: readonly string[]): Promise<MachineRecord[]>;
  /** The regions of every machine and volume not yet destroyed, sorted. */
  listRegionsInUse(): Promise<string[]>;

  /** Newest first. */
  listEvents(machineId: string, limit: number): Promise<MachineEvent[]>;
  /** Newest first. */
  listVersions(machineId: string): Promise<MachineVersion[]>;
  getVersion(machineId: string, version: string): Promise<MachineVersion | null>;

  putVolume(volume: VolumeRecord): Promise<void>;
  /**
   * Inserts a new volume (`creating`, while its file is made); throws LimitError
   * when its app already has `maxLive` volumes not destroyed (a row that holds no
   * volume counts), and AppGoneError when its app does not exist or is being
   * deleted. Counted and inserted in one transaction: racing inserts keep to the limit.
   */
  insertVolume(volume: VolumeRecord, maxLive: number): Promise<void>;
  /**
   * Ends a volume's creation: writes `made`, or with null drops the record (nothing
   * was made), only while the volume is still `creating`. False when it is not
   * (an app's deletion took it meanwhile): nothing is written.
   */
  finishVolume(id: string, made: VolumeRecord | null): Promise<boolean>;
  getVolume(id: string): Promise<VolumeRecord | null>;
  listVolumes(appName: string): Promise<VolumeRecord[]>;
  /** The volumes of every app of an organization: deleted ones only with `includeDeleted`. */
  listOrgVolumes(orgSlug: string, query: OrgVolumeQuery): Promise<Array<{ volume: VolumeRecord; at: string }>>;
  /**
   * Attaches `volumeId` to `machineId` in one transaction, refusing (with the
   * check's error) a volume that `check` rejects, e.g. one attached elsewhere.
   */
  attachVolume(volumeId: string, machineId: string, check: (volume: VolumeRecord | null) => VolumeRecord): Promise<void>;
  /**
   * Detaches every volume attached to `machineId`, but those in `keep`. A volume
   * let go of is dated (`updatedAt`) by the machine's last change, if the machine is stored.
   */
  detachVolumes(machineId: string, keep?: readonly string[]): Promise<void>;

  putSnapshot(snapshot: VolumeSnapshotRecord): Promise<void>;
  getSnapshot(id: string): Promise<VolumeSnapshotRecord | null>;
  /** Oldest first. */
  listSnapshots(volumeId: string): Promise<VolumeSnapshotRecord[]>;
  /** Sets when every snapshot of the volume is deleted. */
  expireSnapshots(volumeId: string, expiresAt: number): Promise<void>;
  /** Snapshots whose time is up at `now`. */
  listExpiredSnapshots(now: number): Promise<VolumeSnapshotRecord[]>;
  deleteSnapshot(id: string): Promise<void>;

  /**
   * The app's host port for `port`: the one it has, else a new one, `choose`n
   * from those not taken by any app (undefined when none is left: throws).
   */
  allocatePublicPort(appName: string, port: number, choose: (taken: ReadonlySet<number>) => number | undefined): Promise<PublicPortRecord>;
  /** Gives up one app's host port (another process holds it): the next allocation picks anew. */
  releasePublicPort(appName: string, port: number): Promise<void>;

  /**
   * Registers a host (again) for `host.instanceId`: its record is replaced, its
   * cordon kept, its epoch raised past any it had, its state `active` and its
   * heartbeat now, by the store's clock. Throws HostRefusedError, writing nothing,
   * for a forgotten host, or one another instance holds and was heard from within
   * `options.freshMs` (unless `options.takeOver`). Returns the host as stored.
   */
  registerHost(host: HostIdentity, options: RegisterOptions): Promise<HostRecord>;
  /** Records a heartbeat, by the store's clock; false (nothing written) when the host no longer has `epoch` or is not active. */
  heartbeatHost(id: string, epoch: number): Promise<boolean>;
  setHostCordoned(id: string, cordoned: boolean): Promise<HostRecord | null>;
  /** Every host with what its machines not destroyed reserve, by id. */
  listHostUsage(): Promise<HostUsage[]>;
  /** One host with what its machines reserve, or null. */
  getHost(id: string): Promise<HostUsage | null>;
  /**
   * Declares lost every active host silent for longer than `silentMs`, by the
   * store's clock, raising its epoch in the same write (a host that comes back is
   * fenced until it registers again). One process at a time does it; the others
   * find nothing to do. Answers the hosts declared.
   */
  declareLostHosts(silentMs: number): Promise<HostRecord[]>;
  /** Moves a host in one of the states `from` to `to`, raising its epoch; null when it is in none of them (or unknown). */
  setHostState(id: string, from: readonly HostState[], to: HostState): Promise<HostRecord | null>;
  /** Volumes not destroyed whose files are on host `hostId`. */
  listVolumesOnHost(hostId: string): Promise<VolumeRecord[]>;
  /** Drops every piece of work queued for host `hostId`; answers how many. */
  dropHostWork(hostId: string): Promise<number>;
  /**
   * Up to `limit` pieces of the work queued for `host`, oldest first, but those
   * `taken` already; none unless the host still has `host.epoch` and is active
   * (checked in the same statement: an instance the host was taken from reads
   * nothing). Reading takes nothing away: work leaves the queue when it is
   * acknowledged. (Ids are given at insert, and transactions commit in another
   * order: a piece may appear below one read before, so no id is a cursor.)
   * The pieces `acks` are acknowledged first (as ackWork), in the same statement.
   */
  claimWork(host: HostFence, taken: readonly number[], limit: number, acks?: readonly number[]): Promise<QueuedWork[]>;
  /** Removes work done from `host`'s queue, as that host at that epoch (else nothing). */
  ackWork(host: HostFence, ids: readonly number[]): Promise<void>;
  /** Gives machines that have no host (written before hosts existed) this one; answers how many. */
  adoptUnplacedMachines(hostId: string): Promise<number>;

  /** The clock of a store shared by many processes (PostgreSQL's), which they keep time by; absent for one process's own. */
  databaseNow?(): Promise<number>;
  /** A cluster's: its hosts' health check results (one hangar keeps its own in memory). */
  readonly checks?: CheckRecords;
  /** A cluster's: its machines' changes in the commit order (one hangar hears its own commits). */
  readonly changes?: ChangeLog;
  /** A cluster's: the number each host's machines' 6PN addresses carry (one hangar keeps its own in its data directory). */
  readonly hostNumbers?: HostNumbers;
  /** A cluster's: how hosts reach each other's machines (one hangar has no peers). */
  readonly mesh?: MeshDirectory;
  /** A cluster's: every host's machines, for each host's private DNS (one hangar's DNS follows its own feed). */
  readonly directory?: MachineDirectory;
  /**
   * A cluster's: moves a machine from host `from` to the host its record names, with
   * the addresses it gives (IPv4: the lowest free there), and `volumes` (which it
   * mounts) with it, in one transaction, if the target has room (else
   * insufficient_capacity) and the machine is still at its revision on `from`, its
   * volumes attached to it there (else StaleWriteError).
   */
  moveMachine?(write: MachineWrite, from: string, volumes: readonly string[]): Promise<MachineRecord>;
  /**
   * A cluster host's: records that host `fence.hostId`, as registered at
   * `fence.epoch` (else nothing), holds `image` (by repository and digest) on its
   * disk, so that a create of it, named by digest, placed there need not wait for
   * the host to prepare it (see MachineInsert.ifImageHeld).
   */
  holdImage?(fence: HostFence, image: ImageRef): Promise<void>;
  /** A cluster's: what one host's edge proxy asks of machines on other hosts (one hangar acts itself). */
  readonly requests?: MachineRequests;
  /** A cluster's: every host's proxy's traffic to every machine (one hangar has one proxy). */
  readonly activity?: ProxyActivity;

  close(): Promise<void>;
}

/** A new machine, its first version and (given `appId`) the id of its app as the caller read it. */
export interface MachineInsert extends MachineWrite {
  version: MachineVersion;
  appId?: string;
  /**
   * What to record instead once the machine is placed, if its host holds its
   * image already (named by digest): the machine as its host's prepare would
   * have left it.
   */
  ifImageHeld?: (placed: MachineRecord) => Pick<MachineWrite, 'machine' | 'events' | 'effects'>;
}

/**
 * Makes the machine to insert from the one asked for, given every host's usage and
 * the machine number allocated for it in the same transaction (for its addresses).
 */
export type Placer = (machine: MachineRecord, hosts: HostUsage[], number: number) => MachineRecord;
