/** What assembling a hangar takes and gives, whatever its role. */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Api } from '../api/routes/types.ts';
import type { ClusterLink } from '../store/link.ts';
import type { HostSession } from '../cluster/host-session.ts';
import type { HostResolver } from '../control/guest-images.ts';
import type { ControlDeps, ControlSettings } from '../control/ports.ts';
import type { Clock, Ids, SecretSealer, TagPins } from '../domain/ports.ts';
import type { EdgeProxy, EdgeProxyOptions } from '../proxy/edge-proxy.ts';
import type { Store } from '../store/store.ts';
import type { VmmDriver } from '../vmm/driver.ts';
import type { LocalVolumes } from '../volumes/local-volumes.ts';
import type { ClusterIdentity } from '../system/cluster-pki.ts';
import type { HostMesh } from '../network/mesh/host-mesh.ts';

/**
 * `all`: API, host agent and edge proxy in one process, alone on its database.
 * In a cluster (a PostgreSQL store and its link): `api`, an API replica that hands
 * machines' work to their hosts; `host`, the agent of one server's machines.
 */
export type Role = 'all' | 'api' | 'host';

export interface AssembleOptions {
  /** SQLite file path, or ':memory:'. */
  databasePath: string;
  /** CPUs and memory machines may reserve on this host (default: not limited). */
  capacity?: { cpus?: number; memoryMb?: number };
  /** A store opened elsewhere (PostgreSQL), used instead of the SQLite file and closed with the hangar (by the caller if assembling fails). */
  store?: Store;
  /** Every role but `api` runs machines on it. */
  driver?: VmmDriver;
  /** `api`: how a create's tag is pinned to its digest (see ControlDeps.pinTag). */
  pinTag?: TagPins;
  token: string;
  /** The keys app secrets are sealed with; absent: secrets are refused. */
  secrets?: SecretSealer;
  logger: Logger;
  settings?: Partial<ControlSettings>;
  clock?: Clock;
  ids?: Ids;
  watchdogIntervalMs?: number;
  /** How host names are resolved (default: the system's DNS). */
  resolveHost?: HostResolver;
  /** Where volume files live (default: `volumes/` beside the database). */
  volumes?: LocalVolumes;
  proxy?: ProxySettings;
  role?: Role;
  cluster?: ClusterOptions;
  /** The instance holding this process's host: kept in its data directory (default: a new one). */
  instanceId?: string;
  /** Take the host over from another instance that holds it (its server was replaced). */
  takeOver?: boolean;
  /** `host` with a machines' network: its part of the private network across hosts. */
  mesh?: HostMesh;
  /** `all` with a machines' network: where the private DNS listens (the host's transit address, port 53). */
  privateDns?: { host: string; port: number };
}

export interface ClusterOptions {
  link: ClusterLink;
  /** What this replica or host agent proves itself with to the others (mutual TLS), from the cluster's authority. */
  identity: ClusterIdentity;
  /** `host`: where the agent API listens, and the address replicas reach it by (host:port). */
  agentListen?: { host: string; port: number };
  agentAddress?: string;
}

/** How the edge proxy is set up (where it listens is server.ts's). */
export type ProxySettings = Pick<EdgeProxyOptions, 'domain' | 'idleMs' | 'upstreams' | 'wakeTimeoutMs' | 'queueTimeoutMs' | 'connectRetryMs' | 'certificates'>;

export interface Hangar {
  role: Role;
  /** The API (not listening); in a host agent, what `/.fly/api` inside its machines is served by. */
  app: Api;
  control: ControlDeps;
  driver?: VmmDriver;
  /** `all` and `host`: API replicas serve no traffic. */
  proxy?: EdgeProxy;
  /** Roles with a host: its registration, heartbeat and fencing. */
  host?: HostSession;
  /** `host`: the agent API, while this instance holds its host. */
  agentApi?(): FastifyInstance | undefined;
  /** Resolves once no work is queued, read or running for this process's host (at once without one). */
  idle(): Promise<void>;
  close(): Promise<void>;
}
