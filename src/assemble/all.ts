/**
 * `--role all`: one process is the whole of hangar, alone on its database: the
 * API, the host agent on a driver, and the edge proxy, which is the only place
 * idle machines are stopped from, since it is where their traffic passes.
 */
import { dirname, join } from 'node:path';
import { HostAgent } from '../agent/host-agent.ts';
import { finishInterrupted } from '../control/interrupted.ts';
import { KnownRecords } from '../control/known-records.ts';
import { ControlObserver } from '../control/observer.ts';
import { startWatchdog } from '../control/watchdog.ts';
import { DEFAULTS } from '../config.ts';
import { createEdgeProxy } from '../proxy/edge-proxy.ts';
import { directoryMachineOf } from '../network/dns/directory.ts';
import { servePrivateDns } from './dns.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { LocalVolumes, onlyHost } from '../volumes/local-volumes.ts';
import { buildApi, controlActions, controlDeps, holdGuestConnections, hostSession } from './core.ts';
import { hostWork } from './host-work.ts';
import { secretsFor } from '../control/secrets.ts';
import type { AssembleOptions, Hangar } from './options.ts';
import { startReaper } from '../e2b/reaper.ts';

export async function assembleAll(options: AssembleOptions): Promise<Hangar> {
  const { driver, logger: log } = options;
  if (!driver) throw new Error('role all runs machines: it needs a driver');
  const store = options.store ?? new SqliteStore(options.databasePath);
  const stops: Array<() => void | Promise<void>> = [];
  try {
    // The agent reports to the control plane, which hands effects to the agent: the
    // observer reaches `control` lazily, once both exist.
    const observer = new ControlObserver(() => control, log);
    const agent = new HostAgent(driver, observer, log, (appName) => secretsFor(store, options.secrets, appName));
    const localVolumes = options.volumes ?? new LocalVolumes(join(dirname(options.databasePath), 'volumes'));
    const control = controlDeps(options, { store, runtime: agent, volumes: onlyHost(localVolumes) });
    control.known = new KnownRecords();
    await refuseClusterDatabase(store, control.settings.hostId);
    const serveGuests = holdGuestConnections(driver);
    const work = hostWork(control, agent, observer, log);
    const session = hostSession(control, options, {
      address: '', anyRegion: true, diskBytes: (await localVolumes.space()).totalBytes,
      serve: async (host) => {
        const adopted = await store.adoptUnplacedMachines(host.id);
        if (adopted > 0) log.info({ hostId: host.id, adopted }, `host ${host.id}: took ${adopted} machines placed before hosts existed`);
        return work.serve(host);
      },
      onTakenOver: () => agent.endAll(),
    });
    await session.start();
    stops.push(() => session.stop());
    stops.push(startWatchdog(control, agent, options.watchdogIntervalMs ?? DEFAULTS.watchdogIntervalMs));

    const proxy = await createEdgeProxy({
      domain: DEFAULTS.proxyDomain, idleMs: DEFAULTS.autostopAfterMs, ...options.proxy,
      machines: (table) => table.follow(store, control.feed), store, clock: control.clock, log, suspendMaxMemoryMb: control.settings.suspendMaxMemoryMb,
      actions: controlActions(control),
    });
    stops.push(() => proxy.close());
    if (options.privateDns) {
      const hostId = control.settings.hostId;
      stops.push(await servePrivateDns({
        machines: { all: () => proxy.table.all().map((machine) => directoryMachineOf(machine, hostId)), onChange: (listener) => proxy.table.onChange(listener) },
        listApps: () => control.store.listApps(), hostId, at: options.privateDns, log,
      }));
    }
    stops.push(finishInterrupted(control));
    // Sandboxes past their end are ended by the processes that serve E2B's API (not host agents).
    const reaper = startReaper(control);
    stops.push(() => reaper.stop());
    control.health = proxy.health;
    control.ports = { portsOf: (appName) => proxy.portsOf(appName), addresses: () => proxy.addresses() };
    const app = await buildApi(control, options, proxy.metrics.registry);
    await serveGuests(app);
    return {
      role: 'all', app, control, driver, proxy, host: session,
      idle: () => work.idle(),
      async close() {
        for (const stop of stops.reverse()) await stop();
        await app.close();
        await agent.idle();
        await driver.close();
        await store.close();
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop();
    // A store given is the caller's to close when assembling fails.
    if (!options.store) await store.close();
    throw error;
  }
}

/**
 * A database where another host is registered is a cluster's: a process of role
 * all there would take every machine for its own and relaunch them here.
 */
async function refuseClusterDatabase(store: Store, hostId: string): Promise<void> {
  const hosts = (await store.listHostUsage()).map((usage) => usage.host);
  const others = hosts.filter((host) => host.id !== hostId || !host.anyRegion);
  if (others.length === 0) return;
  throw new Error(`this database is a cluster's: host${others.length > 1 ? 's' : ''} ${others.map((host) => host.id).join(', ')} `
    + `${others.length > 1 ? 'are' : 'is'} registered there. --role all runs alone on its database; in a cluster, run API replicas with `
    + '--role api and one host agent per server with --role host (see hangar serve --help)');
}
