/** What the control plane's use cases are built from. Only the composition root (src/assemble/) wires real adapters in. */
import type { Logger } from 'pino';
import type { MachineRecord } from '../domain/machine.ts';
import type { HostRuntime } from '../domain/runtime.ts';
import type { TransientState } from '../domain/states.ts';
import type { Clock, HealthReports, Ids, PublicPortReports, SecretSealer, SnapshotCarrier, TagPins, VolumeHosts } from '../domain/ports.ts';
import type { HostFence, Store } from '../store/store.ts';
import type { CreatesInFlight } from './creates-in-flight.ts';
import type { HostResolver } from './guest-images.ts';
import type { KnownApps } from './app-lookup.ts';
import type { KnownRecords } from './known-records.ts';
import type { HostHealth, HostStatus } from './host-health.ts';
import type { MachineFeed } from './machine-feed.ts';
import type { WaitHub } from './wait-hub.ts';

export interface ControlSettings {
  /** Largest guest that may be suspended (Fly: 2048 MB). */
  suspendMaxMemoryMb: number;
  /** Forks of a snapshot template's base kept started and ready for the next creates (src/e2b/spares.ts). */
  e2bSpares: number;
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
  /** The apps this process made machines in (see app-lookup.ts). */
  knownApps?: KnownApps;
  /** Tells this process's host agent that work was queued for host `hostId` (after the commit; it reads the queue). */
  workQueued?: (hostId: string) => void;
  /** An API replica's view of the hosts' health; absent: this process's own host, always ok. */
  hostHealth?: HostHealth;
  /** An API replica's way of carrying a suspended machine's snapshot between hosts (a move). */
  carrier?: SnapshotCarrier;
  /**
   * An API replica's way of pinning a create's tag to its digest, so that the create
   * may be placed on a host that holds that image (see machines.ts); absent: the
   * machine's host resolves the tag when it prepares the image.
   */
  pinTag?: TagPins;
  /** The keys app secrets are sealed with; absent: this process was given none, and refuses secrets. */
  secrets?: SecretSealer;
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
  return machines.filter((machine) => isHostedHere(deps, machine));
}

/** Whether `machine` runs on this process's host agent. */
export function isHostedHere(deps: ControlDeps, machine: MachineRecord): boolean {
  return deps.hosts?.(machine) ?? true;
}
