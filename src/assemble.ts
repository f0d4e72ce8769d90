/**
 * Assembling a hangar: the one place real adapters are wired together. `assemble`
 * builds a hangar of a role (store, host agent on a driver, control plane, API,
 * edge proxy) without listening; server.ts adds the token, the data-dir lock and
 * the sockets.
 */
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
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
import { createEdgeProxy, type EdgeProxy } from './proxy/edge-proxy.ts';
import type { ServerCertificates } from './proxy/ports.ts';
import type { Upstreams } from './proxy/upstream.ts';
import { WaitHub } from './control/wait-hub.ts';
import { CreatesInFlight } from './control/creates-in-flight.ts';
import { MachineFeed } from './control/machine-feed.ts';
import { startWatchdog } from './control/watchdog.ts';
import { type GuestIdentity, specOf } from './domain/runtime.ts';
import { WEDGED_AFTER_MS } from './domain/states.ts';
import { SqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/store.ts';
import { systemClock } from './system/clock.ts';
import { systemIds } from './system/ids.ts';
import type { GuestApiListener, VmmDriver } from './vmm/driver.ts';
import { DEFAULT_SUSPEND_MAX_MEMORY_MB } from './domain/suspend.ts';
import { DEFAULT_HOST_NUMBER } from './domain/address.ts';

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
  // Guests' /.fly/api connections come as soon as recovery reattaches their VMs (those
  // made while hangar was down wait in the guest for it), before the API exists: they
  // wait for it here instead of being turned away.
  const guestsWaiting: Array<[GuestIdentity, Duplex]> = [];
  let serveGuest: GuestApiListener = (guest, stream) => { guestsWaiting.push([guest, stream]); };
  options.driver?.onGuestApi((guest, stream) => serveGuest(guest, stream));
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
  // The routes serve requests once the app is ready (its hooks are built then).
  await app.ready();
  serveGuest = (guest, stream) => serveGuestConnection(app, guest, stream);
  for (const [guest, stream] of guestsWaiting.splice(0)) serveGuest(guest, stream);
  const agentApi = role === 'host' && agent ? buildAgentApi({
    runtime: agent, secret: (cluster as ClusterOptions).secret, volumes: localVolumes,
    ownsVolume: async (volumeId) => (await store.getVolume(volumeId))?.hostId === settings.hostId,
    specOf: async (machineId) => {
      const record = await store.getMachineById(machineId);
      return record?.hostId === settings.hostId ? specOf(record) : undefined;
    },
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
