/**
 * Hosts and placement (pure). A host runs machines for one region, offers some
 * CPUs and memory, and keeps a reservation for every machine placed on it until
 * that machine is destroyed (stopped and suspended machines must be able to start
 * again where they are). A create goes to a host of the requested region that is
 * not cordoned, has a fresh heartbeat and has room for the guest.
 *
 * A host is held by one process instance at a time (its id is kept in that
 * process's data directory). A replica declares a host whose heartbeat stopped
 * `lost`; an operator may then write it off (`forgotten`). Heartbeats are judged
 * by one clock, the store's: `silentMs` is how long ago the last one was, read
 * with the record.
 */
import type { MachineConfig } from './config.ts';
import { HangarError, invalid } from './errors.ts';
import { formatIpv4Range, heldIpv4s, type Ipv4Holders, type Ipv4Range, lowestFreeIpv4, machineSlots, parseCidr4 } from './ipv4.ts';

export interface HostRecord {
  id: string;
  region: string;
  /** Where replicas reach the host's agent (host:port); empty for a host inside the API process. */
  address: string;
  /** The group after an app's /48 in the private addresses of machines on this host. */
  hostNumber: number;
  /**
   * The IPv4 range its machines' addresses are allocated from (`a.b.c.d/len`, as its
   * data directory's network.json keeps it); absent on hosts registered by a hangar
   * that did not say it, whose machines keep the address their number gives.
   */
  ipv4Range?: string;
  /** CPUs and memory machines may reserve; null when not limited (one host on its own). */
  cpus: number | null;
  memoryMb: number | null;
  diskBytes: number;
  /** A host serving one process alone serves any region code asked of it: regions are labels there. */
  anyRegion: boolean;
  cordoned: boolean;
  /** Raised at every registration and when the host is declared lost: a host that comes back cannot write with its old epoch. */
  epoch: number;
  /** The process instance that holds the host (kept in its data directory). */
  instanceId: string;
  state: HostState;
  /** When the last heartbeat was written, by the store's clock (unix ms). */
  heartbeatAt: number;
  registeredAt: number;
  /** How long ago the last heartbeat was when this record was read, by the store's clock. */
  silentMs: number;
}

/**
 * `active`: registered and heartbeating (or silent for less than the lost
 * threshold); `lost`: declared gone by a replica, fenced until it registers again;
 * `forgotten`: written off by an operator, refused until it is let rejoin.
 */
export type HostState = 'active' | 'lost' | 'forgotten';

/** What a host says of itself when it registers. */
export type HostIdentity = Omit<HostRecord, 'epoch' | 'cordoned' | 'heartbeatAt' | 'registeredAt' | 'silentMs' | 'state'>;

/** A host with what its machines (not destroyed) reserve. */
export interface HostUsage {
  host: HostRecord;
  machines: number;
  reservedCpus: number;
  reservedMemoryMb: number;
}

/** What one machine reserves. */
export interface PlacementNeed {
  region: string;
  cpus: number;
  memoryMb: number;
  /** The one host that will do: where the machine's volume is. */
  onHost?: string;
  /** Hosts to take only when no other fits (Fly's unique zones: where the app has a volume of that name). */
  avoid?: readonly string[];
}

/** What a machine with this config reserves on its host: its guest, with Fly's defaults. */
export function reservationOf(config: Pick<MachineConfig, 'guest'>): { cpus: number; memoryMb: number } {
  return { cpus: config.guest?.cpus ?? 1, memoryMb: config.guest?.memory_mb ?? 256 };
}

/** How often a host's heartbeat is written, by default. */
export const HEARTBEAT_MS = 2_000;
/** How long a host may be silent before a replica declares it lost, by default. */
export const HOST_LOST_AFTER_MS = 10_000;

/** Whether the host is heard from: active, and silent for no longer than `freshMs`. */
export function hostIsFresh(host: Pick<HostRecord, 'silentMs' | 'state'>, freshMs: number): boolean {
  return host.state === 'active' && host.silentMs <= freshMs;
}

export function servesRegion(host: HostRecord, region: string): boolean {
  return host.anyRegion || host.region === region;
}

/**
 * The most a host's machines may hold and reserve for one more machine of `need`
 * to fit there (null: no limit): its machines, one fewer than its range has
 * addresses; its CPUs and memory, what the host offers less the need. A store
 * checks them again against the host's reservation as it is under its lock.
 */
export interface RoomLimits {
  machines: number | null;
  cpus: number | null;
  memoryMb: number | null;
}

export function roomLimits(host: Pick<HostRecord, 'cpus' | 'memoryMb' | 'ipv4Range'>, need: Pick<PlacementNeed, 'cpus' | 'memoryMb'>): RoomLimits {
  const range = hostIpv4Range(host);
  return {
    machines: range === undefined ? null : machineSlots(range) - 1,
    cpus: host.cpus === null ? null : host.cpus - need.cpus,
    memoryMb: host.memoryMb === null ? null : host.memoryMb - need.memoryMb,
  };
}

/** Whether what a host's machines hold and reserve is within `limits`. */
export function withinRoom(usage: Pick<HostUsage, 'machines' | 'reservedCpus' | 'reservedMemoryMb'>, limits: RoomLimits): boolean {
  return (limits.machines === null || usage.machines <= limits.machines)
    && (limits.cpus === null || usage.reservedCpus <= limits.cpus)
    && (limits.memoryMb === null || usage.reservedMemoryMb <= limits.memoryMb);
}

function hasRoom(usage: HostUsage, need: PlacementNeed): boolean {
  return withinRoom(usage, roomLimits(usage.host, need));
}

/**
 * The host's IPv4 range, if it said one it can allocate from: /8 to /23, aligned
 * (as network/layout.ts accepts it).
 */
export function hostIpv4Range(host: Pick<HostRecord, 'ipv4Range'>): Ipv4Range | undefined {
  const range = host.ipv4Range === undefined ? undefined : parseCidr4(host.ipv4Range);
  if (!range || range.prefixLength < 8 || range.prefixLength > 23 || range.base % 2 ** (32 - range.prefixLength) !== 0) return undefined;
  return range;
}

/**
 * Whether a machine more can have an address there. Every machine not destroyed
 * holds at most one, so fewer of them than the range has addresses leaves one free
 * (the allocation, in the insert's transaction, finds which).
 */
function hasFreeIpv4(usage: HostUsage): boolean {
  const range = hostIpv4Range(usage.host);
  return range === undefined || usage.machines < machineSlots(range);
}

/**
 * The IPv4 address a machine placed on `host` gets: the lowest of its range that
 * the host's machines not destroyed (`holders`) leave free. None for a host that did
 * not say its range. A full range is `insufficient_capacity`, naming the host and
 * the range.
 */
export function allocateIpv4(host: Pick<HostRecord, 'id' | 'ipv4Range'>, holders: Ipv4Holders): string | undefined {
  const range = hostIpv4Range(host);
  if (!range) return undefined;
  const address = lowestFreeIpv4(range, heldIpv4s(holders, range));
  if (address === undefined) {
    throw new HangarError('insufficient_capacity',
      `insufficient resources to create machine: host ${host.id} has no free IPv4 address: its range ${formatIpv4Range(range)} holds ${machineSlots(range)} machines`,
      'destroy machines on that host, or add a host');
  }
  return address;
}

/** Share of the host's memory still free after placing `need`: more is better; unlimited hosts count as empty. */
function freeShare(usage: HostUsage, need: PlacementNeed): number {
  if (usage.host.memoryMb === null || usage.host.memoryMb === 0) return 1;
  return 1 - (usage.reservedMemoryMb + need.memoryMb) / usage.host.memoryMb;
}

/**
 * Which of the fit hosts a placement compares. Comparing all of them sends every
 * create made at the same moment to the same best host, where they queue for its
 * lock one by one; two at random (the "power of two choices") spreads them over the
 * region and still keeps the hosts evenly filled.
 */
export type Sampler = (fit: readonly HostUsage[]) => readonly HostUsage[];

/** Two of the fit hosts, drawn with `int` (a random integer below its argument). */
export function twoAtRandom(int: (max: number) => number): Sampler {
  return (fit) => {
    if (fit.length <= 2) return fit;
    const first = int(fit.length);
    const second = (first + 1 + int(fit.length - 1)) % fit.length;
    return [fit[first] as HostUsage, fit[second] as HostUsage];
  };
}

/** Every fit host: the one best host, always (one process alone, and tests). */
export const everyHost: Sampler = (fit) => fit;

/**
 * The host a new machine goes to: of the fit hosts serving its region that
 * `sample` draws (control draws two at random),
 * the one with the largest share of memory left, then the fewest machines, then the
 * smallest id. A host silent for more than `freshMs` takes nothing; `selfId` is the
 * host inside this process, fresh by definition.
 * A region no host serves is a 400 naming the regions that exist; a region whose
 * hosts are all cordoned, silent or full is `insufficient_capacity`.
 */
export function chooseHost(hosts: readonly HostUsage[], need: PlacementNeed, freshMs: number, selfId?: string, sample: Sampler = everyHost): HostUsage {
  const inRegion = candidates(hosts, need);
  const usable = inRegion.filter((usage) => !usage.host.cordoned && (usage.host.id === selfId || hostIsFresh(usage.host, freshMs)));
  const roomy = usable.filter((usage) => hasRoom(usage, need));
  if (roomy.length === 0) {
    const why = usable.length === 0
      ? `every host of region ${need.region} is cordoned, lost or has not sent a heartbeat in ${freshMs / 1000} s`
      : `no host of region ${need.region} has room for ${need.cpus} CPUs and ${need.memoryMb} MB (${usable.map(describeRoom).join('; ')})`;
    throw new HangarError('insufficient_capacity', `insufficient resources to create machine: ${why}`, 'destroy machines, uncordon or add a host, or ask for a smaller guest');
  }
  const avoided = new Set(need.avoid);
  const preferred = roomy.filter((usage) => !avoided.has(usage.host.id));
  return [...sample(preferred.length > 0 ? preferred : roomy)]
    .sort((a, b) => freeShare(b, need) - freeShare(a, need) || a.machines - b.machines || a.host.id.localeCompare(b.host.id))[0] as HostUsage;
}

/** The hosts that may take the need: those serving its region, or the one host it is bound to. */
function candidates(hosts: readonly HostUsage[], need: PlacementNeed): HostUsage[] {
  if (need.onHost !== undefined) {
    const bound = hosts.find((usage) => usage.host.id === need.onHost);
    if (!bound) throw new HangarError('insufficient_capacity', `host ${need.onHost}, where the machine's volume is, is not registered`, 'create a new volume elsewhere');
    if (!servesRegion(bound.host, need.region)) {
      throw invalid(`the volume is on host ${bound.host.id} in region ${bound.host.region}, not ${need.region}`, `create the machine in region ${bound.host.region}`);
    }
    return [bound];
  }
  const inRegion = hosts.filter((usage) => servesRegion(usage.host, need.region));
  if (inRegion.length === 0) {
    const regions = [...new Set(hosts.map((usage) => usage.host.region))].sort();
    throw invalid(`region "${need.region}" has no hosts (regions: ${regions.join(', ') || 'none'})`, 'pass one of those regions, or start a host agent with --region');
  }
  return inRegion;
}

function describeRoom(usage: HostUsage): string {
  const range = hostIpv4Range(usage.host);
  if (range && !hasFreeIpv4(usage)) return `${usage.host.id}: no free IPv4 address in ${formatIpv4Range(range)}`;
  const cpus = usage.host.cpus === null ? '' : `${usage.host.cpus - usage.reservedCpus} CPUs`;
  const memory = usage.host.memoryMb === null ? '' : `${usage.host.memoryMb - usage.reservedMemoryMb} MB`;
  return `${usage.host.id}: ${[cpus, memory].filter(Boolean).join(' and ') || 'unlimited'} free`;
}
