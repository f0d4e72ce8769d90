/** What every role is built on: the control plane's dependencies, the API, the host's registration. */
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { buildApp } from '../api/app.ts';
import { serveGuestConnection } from '../api/guest-scope.ts';
import type { Api } from '../api/routes/types.ts';
import { HostSession, type HostSessionOptions } from '../cluster/host-session.ts';
import { stopMachine, suspendMachine, wakeMachine } from '../control/actions.ts';
import { KnownApps } from '../control/app-lookup.ts';
import { CreatesInFlight } from '../control/creates-in-flight.ts';
import { systemResolver } from '../control/guest-images.ts';
import { MachineFeed } from '../control/machine-feed.ts';
import type { ControlDeps, ControlSettings } from '../control/ports.ts';
import type { VolumeHosts } from '../domain/ports.ts';
import { WaitHub } from '../control/wait-hub.ts';
import { DEFAULTS, HANGAR_VERSION } from '../config.ts';
import { DEFAULT_HOST_NUMBER } from '../domain/address.ts';
import type { HostIdentity } from '../domain/host.ts';
import type { GuestIdentity, HostRuntime } from '../domain/runtime.ts';
import { DEFAULT_IPV4_RANGE } from '../network/layout.ts';
import type { MachineActions } from '../proxy/ports.ts';
import type { GuestApiListener, VmmDriver } from '../vmm/driver.ts';
import { WEDGED_AFTER_MS } from '../domain/states.ts';
import { DEFAULT_SUSPEND_MAX_MEMORY_MB } from '../domain/suspend.ts';
import type { Store } from '../store/store.ts';
import { systemClock } from '../system/clock.ts';
import { systemIds } from '../system/ids.ts';
import type { AssembleOptions } from './options.ts';

export const DEFAULT_SETTINGS: ControlSettings = {
  suspendMaxMemoryMb: DEFAULT_SUSPEND_MAX_MEMORY_MB,
  e2bSpares: 1,
  leaseOwner: 'hangar',
  defaultRegion: 'local',
  guestImageRegistries: [],
  maxMachinesPerApp: 1000,
  hostNumber: DEFAULT_HOST_NUMBER,
  ipv4Range: DEFAULT_IPV4_RANGE,
  hostId: defaultHostId(hostname()),
  maxVolumesPerApp: 100,
  wedgedAfterMs: WEDGED_AFTER_MS,
  heartbeatMs: DEFAULTS.heartbeatMs,
  hostLostAfterMs: DEFAULTS.hostLostAfterMs,
};

/** A host id from the machine's name: lowercase letters, digits and dashes. */
export function defaultHostId(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'local';
}

/** The control plane's dependencies over a store, a host runtime and the volumes' hosts. */
export function controlDeps(options: AssembleOptions, parts: { store: Store; runtime: HostRuntime; volumes: VolumeHosts; settings?: Partial<ControlSettings> }): ControlDeps {
  return {
    store: parts.store,
    runtime: parts.runtime,
    volumes: parts.volumes,
    clock: options.clock ?? systemClock,
    ids: options.ids ?? systemIds(options.clock ?? systemClock),
    waits: new WaitHub(),
    feed: new MachineFeed(),
    creates: new CreatesInFlight(),
    knownApps: new KnownApps(),
    log: options.logger,
    settings: { ...DEFAULT_SETTINGS, ...options.settings, ...parts.settings },
    resolveHost: options.resolveHost ?? systemResolver,
    ...(options.secrets ? { secrets: options.secrets } : {}),
  };
}

/** The web console's built files (console/build.ts). */
const CONSOLE_DIR = fileURLToPath(new URL('../../console/dist', import.meta.url));

/** The API over `control`, with `/metrics` from `registry`, and the web console. */
/** The edge proxy's machine actions: stop and suspend as a user would take them through the API, a wake despite leases. */
export function controlActions(control: ControlDeps): MachineActions {
  return {
    start: (app, id) => wakeMachine(control, app, id),
    stop: (app, id) => stopMachine(control, app, id, {}, undefined),
    suspend: (app, id) => suspendMachine(control, app, id, undefined),
  };
}

export function buildApi(control: ControlDeps, options: AssembleOptions, registry: Registry = new Registry()): Promise<Api> {
  const domain = options.proxy?.domain ?? DEFAULTS.proxyDomain;
  return buildApp({
    control, token: options.token, logger: options.logger, version: HANGAR_VERSION, metrics: registry, consoleDir: CONSOLE_DIR,
    graphql: { domain, email: `operator@${domain}` }, e2b: { domain },
  });
}

/**
 * Guests' /.fly/api connections, which come as soon as recovery reattaches their
 * VMs (those made while hangar was down wait in the guest for it): held until the
 * API is ready, then served by it. Answers what hands them to the API.
 */
export function holdGuestConnections(driver: VmmDriver): (app: Api) => Promise<void> {
  const waiting: Array<[GuestIdentity, Duplex]> = [];
  let serve: GuestApiListener = (guest, stream) => { waiting.push([guest, stream]); };
  driver.onGuestApi((guest, stream) => serve(guest, stream));
  return async (app) => {
    // The routes serve requests once the app is ready (its hooks are built then).
    await app.ready();
    serve = (guest, stream) => serveGuestConnection(app, guest, stream);
    for (const [guest, stream] of waiting.splice(0)) serve(guest, stream);
  };
}

/** This process's hold on its host (see host-session.ts), as the settings and capacity describe it. */
export function hostSession(
  control: ControlDeps,
  options: AssembleOptions,
  host: Pick<HostIdentity, 'address' | 'anyRegion' | 'diskBytes'> & Pick<HostSessionOptions, 'serve' | 'onTakenOver'>,
): HostSession {
  const { settings } = control;
  return new HostSession({
    store: control.store,
    identity: {
      id: settings.hostId, region: settings.defaultRegion, address: host.address, hostNumber: settings.hostNumber, ipv4Range: settings.ipv4Range,
      cpus: options.capacity?.cpus ?? null, memoryMb: options.capacity?.memoryMb ?? null, diskBytes: host.diskBytes, anyRegion: host.anyRegion,
      // Without one from a data directory, the database file names the instance: one process runs on it at a time.
      instanceId: options.instanceId ?? `i-${createHash('sha256').update(options.databasePath).digest('hex').slice(0, 16)}`,
    },
    takeOver: options.takeOver === true,
    heartbeatMs: settings.heartbeatMs,
    freshMs: settings.hostLostAfterMs,
    log: control.log,
    serve: host.serve,
    onTakenOver: host.onTakenOver,
  });
}
