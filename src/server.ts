/**
 * The composition root: the one place real adapters are wired together. `assemble`
 * builds a hangar (store, host agent on a driver, control plane, API) without
 * listening; `startServer` adds the token, the data-dir lock and the sockets.
 */
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import pino, { type Logger } from 'pino';
import { HostAgent } from './agent/host-agent.ts';
import { buildApp } from './api/app.ts';
import { serveGuestConnection } from './api/guest-scope.ts';
import type { Api } from './api/routes/types.ts';
import { type HostResolver, systemResolver } from './control/guest-images.ts';
import { ControlObserver } from './control/observer.ts';
import type { Clock, ControlDeps, ControlSettings, Ids } from './control/ports.ts';
import { LocalVolumes, onlyHost } from './volumes/local-volumes.ts';
import { registerSelf } from './control/hosts.ts';
import { HostHealth } from './control/host-health.ts';
import { buildAgentApi } from './cluster/agent-api.ts';
import type { ClusterLink } from './cluster/link.ts';
import { relayMachineChanges } from './cluster/relay.ts';
import { AgentClient } from './cluster/agent-client.ts';
import { RemoteRuntime } from './cluster/remote-runtime.ts';
import { agentVolumes } from './cluster/remote-volumes.ts';
import { drainWork } from './cluster/work-loop.ts';
import { JournaledSink } from './cluster/observation-journal.ts';
import { databaseUnreachable } from './cluster/unreachable.ts';
import type { FastifyInstance } from 'fastify';
import { recoverMachines } from './control/recovery.ts';
import { startMachine, stopMachine, suspendMachine } from './control/actions.ts';
import { createEdgeProxy, type EdgeProxy, joinHostPort } from './proxy/edge-proxy.ts';
import type { ServerCertificates } from './proxy/ports.ts';
import type { Upstreams } from './proxy/upstream.ts';
import { WaitHub } from './control/wait-hub.ts';
import { CreatesInFlight } from './control/creates-in-flight.ts';
import { MachineFeed } from './control/machine-feed.ts';
import { startWatchdog } from './control/watchdog.ts';
import { WEDGED_AFTER_MS } from './domain/states.ts';
import { describeStore, storeLocation } from './store/location.ts';
import { openLink, openStore } from './store/open-store.ts';
import { SqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/store.ts';
import { systemClock } from './system/clock.ts';
import { lockDataDir, loadOrCreateToken } from './system/data-dir.ts';
import { resilientDestination } from './system/log-destination.ts';
import { localAuthority, type TlsIdentity, userIdentity } from './system/tls-identity.ts';
import { systemIds } from './system/ids.ts';
import type { VmmDriver } from './vmm/driver.ts';
import { createDriver, type DriverName, type FakeTiming, openNetwork } from './drivers.ts';
import { DEFAULT_SUSPEND_MAX_MEMORY_MB } from './domain/suspend.ts';
import { ImageStore } from './image/image-store.ts';
import { DEFAULT_HOST_NUMBER } from './domain/address.ts';
import type { NetworkKeeper } from './network/keeper.ts';
import { DEFAULT_NETNS, defaultHostNumber, type Ipv4Range, type NetworkLayout } from './network/layout.ts';

export const HANGAR_VERSION = '0.1.0';

export const DEFAULT_SETTINGS: ControlSettings = {
  suspendMaxMemoryMb: DEFAULT_SUSPEND_MAX_MEMORY_MB,
  leaseOwner: 'hangar',
  defaultRegion: 'local',
  guestImageRegistries: [],
  maxMachinesPerApp: 1000,
  hostNumber: DEFAULT_HOST_NUMBER,
  hostId: defaultHostId(hostname()),
  maxVolumesPerApp: 100,
  wedgedAfterMs: WEDGED_AFTER_MS,
};

/** A host id from the machine's name: lowercase letters, digits and dashes. */
export function defaultHostId(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'local';
}

export interface AssembleOptions {
  /** SQLite file path, or ':memory:'. */
  databasePath: string;
  /** CPUs and memory machines may reserve on this host (default: not limited). */
  capacity?: { cpus?: number; memoryMb?: number };
  /** A store opened elsewhere (PostgreSQL), used instead of the SQLite file and closed with the hangar. */
  store?: Store;
  /** Every role but `api` runs machines on it. */
  driver?: VmmDriver;
  token: string;
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
  /**
   * `all` (default): API, host agent and proxy in one process. In a cluster (a
   * PostgreSQL store and `cluster`): `api` serves the API and hands machines' work
   * to their hosts; `host` runs this host's machines and serves its agent API.
   */
  role?: Role;
  cluster?: ClusterOptions;
}

export type Role = 'all' | 'api' | 'host';

export interface ClusterOptions {
  link: ClusterLink;
  /** What replicas and host agents prove themselves with to each other. */
  secret: string;
  /** `host`: where replicas reach this host's agent API (host:port). */
  agentAddress?: string;
}

export interface ProxySettings {
  /** Apps are reached as `<app>.<domain>`. */
  domain: string;
  /** Idle period before autostop acts. */
  idleMs: number;
  /** Where the proxy reaches a machine's port (default: its private address). */
  upstreams?: Upstreams;
  wakeTimeoutMs?: number;
  queueTimeoutMs?: number;
  connectRetryMs?: number;
  /** Certificates for the proxy's TLS termination. */
  certificates?: ServerCertificates;
}

export const DEFAULT_PROXY: ProxySettings = { domain: 'localhost', idleMs: 5 * 60_000 };

export interface Hangar {
  app: Api;
  /** `host` role: the agent API replicas call (not listening yet). */
  agentApi?: FastifyInstance;
  control: ControlDeps;
  driver?: VmmDriver;
  proxy: EdgeProxy;
  close(): Promise<void>;
}

export async function assemble(options: AssembleOptions): Promise<Hangar> {
  const store = options.store ?? new SqliteStore(options.databasePath);
  const log = options.logger;
  const role = options.role ?? 'all';
  const cluster = options.cluster;
  if (role !== 'all' && !cluster) throw new Error(`role ${role} needs a cluster (a PostgreSQL store and its link)`);
  // The agent reports to the control plane, which hands effects to the agent: the
  // observer reaches `control` lazily, once both exist.
  const observer = new ControlObserver(() => control, log);
  if (role !== 'api' && !options.driver) throw new Error(`role ${role} runs machines: it needs a driver`);
  // A host agent keeps running its machines while the database is out of reach, and journals what happens.
  const journal = role === 'host' ? new JournaledSink(observer, join(dirname(options.databasePath), 'observations.journal'), log, databaseUnreachable) : undefined;
  const agent = role === 'api' || !options.driver ? undefined : new HostAgent(options.driver, journal ?? observer, log);
  const settings = { ...DEFAULT_SETTINGS, ...options.settings, ...(role === 'api' ? { hostId: '' } : {}) };
  const localVolumes = options.volumes ?? new LocalVolumes(join(dirname(options.databasePath), 'volumes'));
  const agents = new AgentClient(store, cluster?.secret ?? '');
  const control: ControlDeps = {
    store,
    runtime: agent ?? new RemoteRuntime({ store, agents, now: () => control.clock.now() }),
    // A replica's volumes are on the hosts; a process with its own host keeps them on its disk.
    volumes: agent ? onlyHost(localVolumes) : agentVolumes(agents),
    clock: options.clock ?? systemClock,
    ids: options.ids ?? systemIds(),
    waits: new WaitHub(),
    feed: new MachineFeed(),
    creates: new CreatesInFlight(),
    log,
    settings,
    resolveHost: options.resolveHost ?? systemResolver,
  };
  if (cluster) relayMachineChanges(control, cluster.link, log);
  const stops: Array<() => void> = [];
  if (role === 'api') {
    control.hostHealth = new HostHealth(store, control.clock);
    stops.push(await control.hostHealth.start((error) => log.warn({ err: error }, 'reading the hosts\' heartbeats failed')));
  }
  if (agent) {
    const self = await registerSelf(control, {
      id: settings.hostId, region: settings.defaultRegion, address: cluster?.agentAddress ?? '', hostNumber: settings.hostNumber,
      cpus: options.capacity?.cpus ?? null, memoryMb: options.capacity?.memoryMb ?? null,
      diskBytes: (await localVolumes.space()).totalBytes, anyRegion: role === 'all',
    });
    stops.push(self.stop);
    if (role === 'host') {
      control.hosts = (machine) => machine.hostId === settings.hostId;
      control.fence = { hostId: self.host.id, epoch: self.host.epoch };
    }
    await journal?.flush();
    const recovered = await recoverMachines(control, journal ?? observer);
    if (recovered.checked > 0) log.info({ checked: recovered.checked, running: recovered.running }, `recovered ${recovered.checked} machines (${recovered.running} running)`);
    stops.push(startWatchdog(control, options.watchdogIntervalMs ?? 15_000));
    // Work committed before recovery read a machine is what recovery finished itself.
    if (role === 'host') stops.push(drainWork((cluster as ClusterOptions).link, settings.hostId, agent, log, { recovered: recovered.revs }));
  }
  const proxySettings = options.proxy ?? DEFAULT_PROXY;
  const proxy = await createEdgeProxy({
    ...proxySettings, store, feed: control.feed, clock: control.clock, log, suspendMaxMemoryMb: control.settings.suspendMaxMemoryMb,
    actions: {
      start: (app, id) => startMachine(control, app, id, undefined),
      stop: (app, id) => stopMachine(control, app, id, {}, undefined),
      suspend: (app, id) => suspendMachine(control, app, id, undefined),
    },
  });
  control.health = proxy.health;
  control.ports = { portsOf: (appName) => proxy.portsOf(appName), addresses: () => proxy.addresses() };
  const app = await buildApp({ control, token: options.token, logger: log, version: HANGAR_VERSION, metrics: proxy.metrics.registry });
  options.driver?.onGuestApi((guest, stream) => serveGuestConnection(app, guest, stream));
  const agentApi = role === 'host' && agent ? buildAgentApi({
    runtime: agent, secret: (cluster as ClusterOptions).secret, volumes: localVolumes,
    ownsVolume: async (volumeId) => (await store.getVolume(volumeId))?.hostId === settings.hostId,
    // Without the database, the machines the agent runs are its own.
    owns: async (machineId) => {
      try {
        return (await store.getMachineById(machineId))?.hostId === settings.hostId;
      } catch (error) {
        if (databaseUnreachable(error)) return agent.runs(machineId);
        throw error;
      }
    },
  }) : undefined;
  return {
    app,
    agentApi,
    control,
    driver: options.driver,
    proxy,
    async close() {
      for (const stop of stops) stop();
      journal?.close();
      await proxy.close();
      await app.close();
      await agentApi?.close();
      await control.runtime.idle();
      await options.driver?.close();
      await cluster?.link.close();
      await store.close();
    },
  };
}

export type { DriverName, FakeTiming } from './drivers.ts';

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
  /** Host ports given to apps' other public ports, `FIRST-LAST` (default 20000-20999). */
  proxyPorts?: string;
  proxy?: ProxySettings;
  driver: DriverName;
  fakeTiming?: FakeTiming;
  netns?: string;
  /** qemu driver: this host's number in machine addresses, and the namespace's IPv4 range (defaults: see layout.ts). */
  hostNumber?: number;
  ipv4Range?: Ipv4Range;
  outboundNat?: boolean;
  /** qemu driver: how often the network is checked for drift (default 30 s). */
  networkCheckMs?: number;
  logLevel: string;
  /** How often the watchdog checks machines (default 15 s). */
  watchdogMs?: number;
  settings?: Partial<ControlSettings>;
  /** CPUs and memory machines may reserve on this host (default: not limited). */
  capacity?: { cpus?: number; memoryMb?: number };
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
  try {
    const location = storeLocation(options.store, options.dataDir, options.storePoolSize);
    if (role !== 'all' && location.kind !== 'postgres') throw new Error(`--role ${role} needs --store postgres://…: the cluster's processes share one database`);
    const secret = role === 'all' ? '' : clusterSecret(process.env.HANGAR_CLUSTER_SECRET);
    const token = loadOrCreateToken(options.dataDir, process.env.HANGAR_API_TOKEN);
    // Every address is read before anything is set up, so that a bad one changes nothing.
    const apiAt = parseListen(options.apiListen);
    const proxyAt = parseListen(options.proxyListen ?? '127.0.0.1:8080');
    const tlsAt = options.proxyTlsListen === 'off' ? undefined : parseListen(options.proxyTlsListen ?? '127.0.0.1:8443');
    const hostPorts = { host: proxyAt.host, ...parsePortRange(options.proxyPorts ?? '20000-20999') };
    const agentAt = role === 'host' ? await boundable(parseListen(options.agentListen ?? '127.0.0.1:4290')) : undefined;
    // The data directory is locked, so no build is under way: what a killed one left can go.
    for (const path of await new ImageStore(join(options.dataDir, 'images')).removeLeftovers()) {
      logger.info({ path }, 'removed what an interrupted image build or pull left');
    }
    const volumes = new LocalVolumes(join(options.dataDir, 'volumes'));
    const proxySettings = options.proxy ?? DEFAULT_PROXY;
    const tls = role === 'all' && tlsAt ? (options.tlsFiles
      ? userIdentity(options.tlsFiles)
      : await localAuthority(join(options.dataDir, 'tls'), proxySettings.domain)) : undefined;
    const netns = options.netns ?? DEFAULT_NETNS;
    network = options.driver === 'qemu' && role !== 'api' ? await openNetwork({
      dataDir: options.dataDir, netns, hostNumber: options.hostNumber, ipv4Range: options.ipv4Range, outboundNat: options.outboundNat === true,
      checkIntervalMs: options.networkCheckMs, logger,
    }) : undefined;
    const onIdleError = (error: Error) => logger.warn({ err: error }, 'a PostgreSQL connection broke while idle; the pool opens another');
    store = await openStore(location, onIdleError);
    if (role !== 'all' && location.kind === 'postgres') link = await openLink(location.url, onIdleError);
    hangar = await assemble({
      databasePath: join(options.dataDir, 'hangar.db'),
      store,
      volumes,
      driver: role === 'api' ? undefined : await createDriver(options.driver, {
        dataDir: options.dataDir, volumes, fakeTiming: options.fakeTiming, network, suspendMaxMemoryMb: options.settings?.suspendMaxMemoryMb, logger,
      }),
      token: token.value,
      logger,
      settings: { ...options.settings, hostNumber: network?.layout.hostNumber ?? options.hostNumber ?? defaultHostNumber(netns) },
      proxy: { ...proxySettings, certificates: tls },
      watchdogIntervalMs: options.watchdogMs,
      capacity: options.capacity,
      role,
      cluster: link && { link, secret, agentAddress: agentAt && joinHostPort(options.agentAddress ?? agentAt.host, agentAt.port) },
    });
    const running = hangar;
    let url = '';
    if (role !== 'host') {
      await running.app.listen(apiAt);
      url = urlOf(apiAt.host, running.app.server.address(), apiAt.port);
    }
    const agentUrl = agentAt && running.agentApi ? await running.agentApi.listen(agentAt) : undefined;
    // The proxy reaches machines of this host only: it serves where API, agent and machines are one.
    const proxyUrls = role === 'all' ? await running.proxy.listen({ http: proxyAt, https: tlsAt, hostPorts }) : { http: '' };
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
        await running.close();
        unlock();
      },
    };
  } catch (error) {
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

/** The cluster secret from HANGAR_CLUSTER_SECRET: every replica and host agent of a cluster holds the same. */
function clusterSecret(value: string | undefined): string {
  if (!value || value.length < 16) throw new Error('set HANGAR_CLUSTER_SECRET (16 characters or more, the same for every replica and host agent)');
  return value;
}

/** The address with a free port in place of port 0 (the agent's address is registered before it listens). */
async function boundable(at: { host: string; port: number }): Promise<{ host: string; port: number }> {
  if (at.port !== 0) return at;
  const probe = createNetServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, at.host, resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return { host: at.host, port };
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
