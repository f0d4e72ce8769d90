/**
 * The composition root's outer layer: `startServer` takes a data directory and
 * flags, adds the token, the data-dir lock, the store and the driver, assembles a
 * hangar (assemble.ts) and opens its sockets.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import type { ControlSettings } from './control/ports.ts';
import { LocalVolumes } from './volumes/local-volumes.ts';
import type { ClusterLink } from './store/link.ts';
import { joinHostPort } from './proxy/edge-proxy.ts';
import { describeStore, storeLocation } from './store/location.ts';
import { openLink, openStore } from './store/open-store.ts';
import type { Store } from './store/store.ts';
import type { HostNumbers } from './domain/ports.ts';
import { loadOrCreateInstanceId, lockDataDir, loadOrCreateToken, readKeptHostNumber, writeKeptHostNumber } from './system/data-dir.ts';
import { type ClusterIdentity, loadIdentity } from './system/cluster-pki.ts';
import { SyncedClock } from './system/synced-clock.ts';
import { resilientDestination } from './system/log-destination.ts';
import { localAuthority, type TlsIdentity, userIdentity } from './system/tls-identity.ts';
import { createDriver, type DriverName, type FakeTiming, openNetwork, tagPins } from './drivers.ts';
import { ImageStore } from './image/image-store.ts';
import type { NetworkKeeper } from './network/keeper.ts';
import { DEFAULT_NETNS, defaultHostNumber, DNS_PORT, formatIpv4Range, type Ipv4Range, meshLinkName, type NetworkLayout, transit } from './network/layout.ts';
import { type Role, type ProxySettings, type Hangar, assemble } from './assemble/index.ts';
import { DEFAULT_SETTINGS } from './assemble/core.ts';
import { clusterHostNumber } from './network/host-number.ts';
import { DEFAULT_UNDERLAY_PORT, hostMesh, removeMeshLink } from './network/mesh/host-mesh.ts';
import { isRoutable, parseEndpoint } from './network/mesh/peers.ts';
import { DEFAULTS } from './config.ts';
import { SecretKeys } from './system/secret-keys.ts';
import { freePortToListen } from './system/free-port.ts';

export type { DriverName, FakeTiming } from './drivers.ts';
export type { Role } from './assemble/index.ts';

export interface ServeOptions {
  dataDir: string;
  /** A postgres:// URL (default: the SQLite file in the data directory). */
  store?: string;
  role?: Role;
  /** `host`: where the agent API listens (default 127.0.0.1:4290), and the host name replicas reach it by (default: the listen host). */
  agentListen?: string;
  agentAddress?: string;
  /** Most connections to PostgreSQL (default 10). */
  storePoolSize?: number;
  apiListen: string;
  /** The edge proxy's HTTP address (default 127.0.0.1:8080). */
  proxyListen?: string;
  /** The edge proxy's TLS address (default 127.0.0.1:8443); 'off': no TLS. */
  proxyTlsListen?: string;
  /** The certificate the TLS listener presents (default: self-signed, made in the data dir). */
  tlsFiles?: { cert: string; key: string };
  /** The keyring app secrets are sealed with (system/secret-keys.ts); default `$HANGAR_SECRETS_KEY`, else (one process) `secrets.key` in the data dir. */
  secretsKeyFile?: string;
  /** Host ports given to apps' other public ports, `FIRST-LAST` (default 20000-20999). */
  proxyPorts?: string;
  proxy?: ProxySettings;
  driver: DriverName;
  fakeTiming?: FakeTiming;
  /** qemu driver: how long a suspended machine's RAM stays in memory once written out (default 1 min). */
  suspendedMemoryMs?: number;
  netns?: string;
  /** qemu driver: this host's number in machine addresses, and the namespace's IPv4 range (defaults: see layout.ts). */
  hostNumber?: number;
  ipv4Range?: Ipv4Range;
  outboundNat?: boolean;
  /** Role host, qemu driver: how machines reach their app's machines on other hosts (default wireguard). */
  underlay?: 'wireguard' | 'plain' | 'off';
  /** Where other hosts send this host's private network traffic, `IP:PORT` (default: the agent's address, port 51820). */
  underlayEndpoint?: string;
  /** qemu driver: how often the network is checked for drift (default 30 s). */
  networkCheckMs?: number;
  logLevel: string;
  /** How often the watchdog checks machines (default 15 s). */
  watchdogMs?: number;
  settings?: Partial<ControlSettings>;
  /** CPUs and memory machines may reserve on this host (default: not limited). */
  capacity?: { cpus?: number; memoryMb?: number };
  /** Take this host over from another instance that holds it (its server was replaced). */
  takeOver?: boolean;
  /** Roles api and host: the directory of this process's cluster identity (ca.crt, cert.pem, key.pem). */
  clusterDir?: string;
}

export interface RunningServer {
  /** The API; empty for a host agent. */
  url: string;
  role: Role;
  /** `host`: the agent API replicas call. */
  agentUrl?: string;
  proxyUrl: string;
  /** Absent when TLS is off. */
  proxyTlsUrl?: string;
  tls?: TlsIdentity;
  /** The machines' network (qemu driver). */
  network?: NetworkLayout;
  /** Where records are kept: the SQLite file, or the PostgreSQL URL without its password. */
  store: string;
  token: string;
  tokenSource: 'env' | 'file' | 'generated';
  tokenFile: string;
  hangar: Hangar;
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const logger = pino({ level: options.logLevel, base: undefined }, resilientDestination(1));
  const unlock = lockDataDir(options.dataDir);
  const role = options.role ?? 'all';
  let network: NetworkKeeper | undefined;
  let store: Store | undefined;
  let link: ClusterLink | undefined;
  let hangar: Hangar | undefined;
  let clock: SyncedClock | undefined;
  try {
    const location = storeLocation(options.store, options.dataDir, options.storePoolSize);
    if (role !== 'all' && location.kind !== 'postgres') throw new Error(`--role ${role} needs --store postgres://…: the cluster's processes share one database`);
    const identity = role === 'all' ? undefined : clusterIdentity(role, options.clusterDir, options.settings?.hostId);
    const token = loadOrCreateToken(options.dataDir, process.env.HANGAR_API_TOKEN);
    const secrets = secretKeys(role, options.dataDir, options.secretsKeyFile, process.env.HANGAR_SECRETS_KEY);
    if (!secrets) logger.warn('no secrets key (--secrets-key-file or HANGAR_SECRETS_KEY): app secrets can be neither set nor given to machines here');
    // Every address is read before anything is set up, so that a bad one changes nothing.
    const apiAt = parseListen(options.apiListen);
    const proxyAt = parseListen(options.proxyListen ?? DEFAULTS.proxyListen);
    const tlsAt = options.proxyTlsListen === 'off' ? undefined : parseListen(options.proxyTlsListen ?? DEFAULTS.proxyTlsListen);
    const hostPorts = { host: proxyAt.host, ...parsePortRange(options.proxyPorts ?? DEFAULTS.proxyPorts) };
    const agentAt = role === 'host' ? await boundable(parseListen(options.agentListen ?? DEFAULTS.agentListen)) : undefined;
    const meshAt = role === 'host' && options.driver === 'qemu' && options.underlay !== 'off'
      ? underlayEndpoint(options.underlayEndpoint, options.agentAddress ?? agentAt?.host) : undefined;
    // The data directory is locked, so no build is under way: what a killed one left can go.
    for (const path of await new ImageStore(join(options.dataDir, 'images')).removeLeftovers()) {
      logger.info({ path }, 'removed what an interrupted image build or pull left');
    }
    const volumes = new LocalVolumes(join(options.dataDir, 'volumes'));
    const proxySettings = options.proxy ?? { domain: DEFAULTS.proxyDomain, idleMs: DEFAULTS.autostopAfterMs };
    const tls = role !== 'api' && tlsAt ? (options.tlsFiles
      ? userIdentity(options.tlsFiles)
      : await localAuthority(join(options.dataDir, 'tls'), proxySettings.domain)) : undefined;
    // The message and code only: node-postgres hangs the whole connection (statements included) on the error.
    const onIdleError = (error: Error) => logger.warn({ reason: error.message, code: (error as { code?: unknown }).code },
      'a PostgreSQL connection broke while idle; the pool opens another');
    store = await openStore(location, onIdleError);
    const netns = options.netns ?? DEFAULT_NETNS;
    // In a cluster the database gives each host its number (one hangar takes it from flags, else its namespace).
    const hostNumber = role === 'host' && store.hostNumbers ? await keptClusterHostNumber(store.hostNumbers, options) : options.hostNumber;
    const meshLink = meshAt && store.mesh ? meshLinkName(netns) : undefined;
    network = options.driver === 'qemu' && role !== 'api' ? await openNetwork({
      dataDir: options.dataDir, netns, hostNumber, ipv4Range: options.ipv4Range, outboundNat: options.outboundNat === true,
      checkIntervalMs: options.networkCheckMs, logger, meshLink,
    }) : undefined;
    // A host whose private network across hosts is off keeps no link to the others from an earlier start.
    if (network && role === 'host' && options.underlay === 'off') await removeMeshLink(netns);
    const mesh = network && meshAt && meshLink && store.mesh
      ? hostMesh({ kind: options.underlay === 'plain' ? 'plain' : 'wireguard', network, directory: store.mesh, dataDir: options.dataDir, link: meshLink, endpoint: meshAt, hostId: options.settings?.hostId ?? DEFAULT_SETTINGS.hostId, logger })
      : undefined;
    const ipv4Range = network?.layout.ipv4Range ?? options.ipv4Range;
    // A cluster's processes judge leases and stamp history by one clock, the database's.
    const databaseNow = store.databaseNow?.bind(store);
    if (role !== 'all' && databaseNow) {
      clock = new SyncedClock(databaseNow);
      await clock.start((error) => logger.warn({ err: error }, 'could not read the database\'s clock; keeping the last offset'));
      if (Math.abs(clock.offsetMs) > 1_000) logger.warn({ offsetMs: Math.round(clock.offsetMs) }, 'this server\'s clock and the database\'s differ by more than a second: hangar keeps the database\'s time');
    }
    if (role !== 'all' && location.kind === 'postgres') {
      link = await openLink(location.url);
      link.onMissedChanges(() => logger.info('cluster: listening to the database\'s notifications again; what changed meanwhile is read again'));
    }
    hangar = await assemble({
      databasePath: join(options.dataDir, 'hangar.db'),
      store,
      volumes,
      driver: role === 'api' ? undefined : await createDriver(options.driver, {
        dataDir: options.dataDir, volumes, fakeTiming: options.fakeTiming, network, suspendMaxMemoryMb: options.settings?.suspendMaxMemoryMb, logger,
        suspendedMemoryMs: options.suspendedMemoryMs,
      }),
      // A replica pins a create's tag as its hosts would resolve it: a host that holds the image then answers it at once.
      ...(role === 'api' ? { pinTag: tagPins(options.driver) } : {}),
      token: token.value,
      secrets,
      logger,
      settings: {
        ...options.settings, hostNumber: network?.layout.hostNumber ?? hostNumber ?? defaultHostNumber(netns),
        // Machines' IPv4 addresses are allocated from the network's range (fake driver: the one asked for, else the default).
        ...(ipv4Range ? { ipv4Range: formatIpv4Range(ipv4Range) } : {}),
      },
      proxy: { ...proxySettings, certificates: tls },
      watchdogIntervalMs: options.watchdogMs,
      capacity: options.capacity,
      role,
      clock,
      instanceId: loadOrCreateInstanceId(options.dataDir),
      // The namespace sends what machines ask of fdaa::3 to the host's transit address.
      ...(network ? { privateDns: { host: transit(network.layout).host6, port: DNS_PORT } } : {}),
      takeOver: options.takeOver,
      mesh,
      cluster: link && identity && { link, identity, agentListen: agentAt, agentAddress: agentAt && joinHostPort(options.agentAddress ?? agentAt.host, agentAt.port) },
    });
    const running = hangar;
    let url = '';
    if (role !== 'host') {
      await running.app.listen(apiAt);
      url = urlOf(apiAt.host, running.app.server.address(), apiAt.port);
    }
    const agentUrl = agentAt && `https://${joinHostPort(agentAt.host, agentAt.port)}`;
    // Apps' own host ports are one hangar's only: a cluster has no shared allocation of them yet.
    const proxyUrls = running.proxy ? await running.proxy.listen({ http: proxyAt, https: tlsAt, ...(role === 'all' ? { hostPorts } : {}) }) : { http: '' };
    return {
      url,
      agentUrl,
      role,
      proxyUrl: proxyUrls.http,
      proxyTlsUrl: proxyUrls.https,
      tls,
      network: network?.layout,
      store: describeStore(location),
      token: token.value,
      tokenSource: token.source,
      tokenFile: token.file,
      hangar: running,
      async close() {
        clock?.stop();
        await running.close();
        unlock();
      },
    };
  } catch (error) {
    clock?.stop();
    network?.close();
    // A hangar closes its store and link; without one, they are closed here.
    if (!hangar) {
      await link?.close();
      await store?.close();
    }
    unlock();
    throw error;
  }
}

/** `--underlay-endpoint`, else the agent's address with WireGuard's usual port. */
function underlayEndpoint(flag: string | undefined, agentHost: string | undefined): { host: string; port: number } {
  const text = flag ?? (agentHost && `${agentHost.includes(':') ? `[${agentHost}]` : agentHost}:${DEFAULT_UNDERLAY_PORT}`);
  const endpoint = text ? parseEndpoint(text) : undefined;
  if (!endpoint) throw new Error(`--underlay-endpoint must be IP:PORT (an address other hosts reach this one at), got "${text ?? ''}"`);
  if (!isRoutable(endpoint.host)) {
    throw new Error(`the private network's endpoint ${text} is not an address other hosts can reach: set --underlay-endpoint (or --agent-address), or --underlay off`);
  }
  return endpoint;
}

/** This host's number in the cluster (see network/host-number.ts), kept in the data directory. */
async function keptClusterHostNumber(numbers: HostNumbers, options: ServeOptions): Promise<number> {
  const hostId = options.settings?.hostId ?? DEFAULT_SETTINGS.hostId;
  const number = await clusterHostNumber(numbers, { hostId, kept: readKeptHostNumber(options.dataDir), asked: options.hostNumber });
  writeKeptHostNumber(options.dataDir, number);
  return number;
}

/** The identity a replica or host agent proves itself with, from `--cluster-dir`: a host's must name the host it serves. */
function clusterIdentity(role: Role, dir: string | undefined, hostId: string | undefined): ClusterIdentity {
  if (!dir) throw new Error(`--role ${role} needs --cluster-dir: the certificate this process proves itself with (hangar cluster issue)`);
  const identity = loadIdentity(dir);
  const wanted = role === 'api' ? 'replica' : 'host';
  if (identity.role !== wanted) throw new Error(`--cluster-dir ${dir} holds a ${identity.role}'s identity (${identity.name}); --role ${role} needs a ${wanted}'s`);
  if (role === 'host' && identity.name !== hostId) {
    throw new Error(`--cluster-dir ${dir} holds host ${identity.name}'s identity, not host ${hostId ?? '(no --host-id)'}'s: a host proves itself only as itself`);
  }
  return identity;
}

/** The address with a free port in place of port 0 (the agent's address is registered before it listens). */
async function boundable(at: { host: string; port: number }): Promise<{ host: string; port: number }> {
  return at.port === 0 ? { host: at.host, port: await freePortToListen(at.host) } : at;
}

function urlOf(host: string, bound: string | AddressInfo | null, port: number): string {
  return `http://${joinHostPort(host, typeof bound === 'object' && bound ? bound.port : port)}`;
}

/** `20000-20999` → the first and last port. */
export function parsePortRange(text: string): { first: number; last: number } {
  const match = /^(\d+)-(\d+)$/.exec(text);
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  if (!match || first < 1 || last > 65535 || first > last) throw new Error(`port range must be FIRST-LAST within 1-65535, got "${text}"`);
  return { first, last };
}

export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (!match) throw new Error(`listen address must be HOST:PORT, got "${text}"`);
  return { host: (match[1] ?? match[2]) as string, port: Number(match[3]) };
}

/**
 * The keys app secrets are sealed with: the file given, else `HANGAR_SECRETS_KEY`,
 * else, for a hangar alone on its data, a file it makes there. A cluster's
 * processes must share one keyring, so none is made for them.
 */
function secretKeys(role: Role, dataDir: string, file: string | undefined, env: string | undefined): SecretKeys | undefined {
  if (file) return SecretKeys.inFile(file, { create: false });
  if (env) return SecretKeys.parse(env, 'HANGAR_SECRETS_KEY');
  return role === 'all' ? SecretKeys.inFile(join(dataDir, 'secrets.key'), { create: true }) : undefined;
}
