/**
 * `--role host`: the agent of one server's machines in a cluster. It holds its
 * host through a session (host-session.ts): while it does, it recovers its
 * machines, takes its work from the queue and serves its agent API to the
 * replicas; when the host is taken from it, it stops all three at once. Its
 * machines keep running whatever happens to the database, and what happens to
 * them meanwhile is journaled. It runs its machines' health checks (it reaches
 * them) and records their results for the replicas to show. It answers its
 * machines' private DNS about every host's machines, keeps its part of the private
 * network across hosts (mesh), and serves an edge proxy that routes to every
 * host's machines (cluster-proxy.ts), acting on what other hosts' proxies ask of
 * its own machines.
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { HostAgent } from '../agent/host-agent.ts';
import { buildAgentApi } from '../cluster/agent-api.ts';
import { ChangeFollower } from '../cluster/change-follower.ts';
import { CheckPublisher } from '../cluster/check-publisher.ts';
import { JournaledSink } from '../cluster/observation-journal.ts';
import { relayMachineChanges } from '../cluster/relay.ts';
import { databaseUnreachable, reportRefused } from '../cluster/unreachable.ts';
import { KnownRecords } from '../control/known-records.ts';
import { discardWrittenOff } from '../control/recovery.ts';
import { ControlObserver } from '../control/observer.ts';
import type { ControlDeps } from '../control/ports.ts';
import { startWatchdog } from '../control/watchdog.ts';
import { DEFAULTS } from '../config.ts';
import { failpoint } from '../system/failpoints.ts';
import type { HostRecord } from '../domain/host.ts';
import type { CheckRecords } from '../domain/ports.ts';
import { specOf } from '../domain/runtime.ts';
import { LocalVolumes, onlyHost } from '../volumes/local-volumes.ts';
import type { StopServing } from '../cluster/host-session.ts';
import { joinHostPort } from '../proxy/edge-proxy.ts';
import { HealthMonitor } from '../proxy/health-monitor.ts';
import { MachineTable } from '../proxy/machine-table.ts';
import { privateAddress } from '../proxy/upstream.ts';
import { buildApi, controlDeps, holdGuestConnections, hostSession } from './core.ts';
import { hostWork } from './host-work.ts';
import { servePrivateDns } from './dns.ts';
import { actOnRequest, createClusterProxy } from './cluster-proxy.ts';
import { serveRequests } from '../cluster/request-loop.ts';
import { DirectoryTable } from '../cluster/directory-table.ts';
import { registerMeshMetrics } from '../network/mesh/host-mesh.ts';
import { secretsFor } from '../control/secrets.ts';
import type { AssembleOptions, ClusterOptions, Hangar } from './options.ts';

export async function assembleHost(options: AssembleOptions): Promise<Hangar> {
  const { cluster, store, driver, logger: log } = options;
  if (!cluster?.agentListen || !store) throw new Error('role host needs a cluster: a PostgreSQL store, its link and where its agent API listens');
  if (!driver) throw new Error('role host runs machines: it needs a driver');
  const stops: Array<() => void | Promise<void>> = [];
  try {
    const observer = new ControlObserver(() => control, log);
    // The machines keep running while the database is out of reach; what happens to them is journaled.
    const journal = new JournaledSink(observer, join(dirname(options.databasePath), 'observations.journal'), log, reportRefused);
    stops.push(() => journal.close());
    const agent = new HostAgent(driver, journal, log, (appName) => secretsFor(store, options.secrets, appName));
    const localVolumes = options.volumes ?? new LocalVolumes(join(dirname(options.databasePath), 'volumes'));
    const control = controlDeps(options, { store, runtime: agent, volumes: onlyHost(localVolumes) });
    control.known = new KnownRecords();
    const hostId = control.settings.hostId;
    control.hosts = (machine) => machine.hostId === hostId;
    // Its guests wait only for their own machines, which are on this host.
    stops.push(relayMachineChanges(control, cluster.link, log, hostId));
    // Its view of its machines follows every process's commits of them, not only its own.
    if (store.changes) {
      const follower = await ChangeFollower.start(store.changes, cluster.link, control.feed, log, hostId);
      stops.push(() => follower.stop());
    }
    if (store.checks) stops.push(await runChecks(control, store.checks, log));
    // Every host's machines, which the private DNS answers about and the mesh routes to.
    const { directory } = store;
    const everyMachine = directory ? await DirectoryTable.start(directory, cluster.link, log) : undefined;
    if (everyMachine) stops.push(() => everyMachine.stop());
    const { requests, activity } = store;
    const proxy = everyMachine && requests && activity
      ? await createClusterProxy({ control, machines: everyMachine, requests, activity, settings: options.proxy, log })
      : undefined;
    if (proxy) stops.push(() => proxy.close());
    if (everyMachine && directory && options.privateDns) {
      stops.push(await servePrivateDns({ machines: everyMachine, listApps: () => directory.apps(), hostId, at: options.privateDns, log }));
    }
    const serveGuests = holdGuestConnections(driver);
    const app = await buildApi(control, options);
    await serveGuests(app);

    let agentApi: FastifyInstance | undefined;
    const registry = new Registry();
    if (options.mesh) registerMeshMetrics(registry, options.mesh);
    const work = hostWork(control, agent, journal, log, (hostId, kick) => cluster.link.onWork(hostId, kick));
    const serve = async (host: HostRecord): Promise<StopServing> => {
      control.fence = { hostId: host.id, epoch: host.epoch };
      await journal.flush();
      const stopWork = await work.serve(host);
      const stopLettingGo = everyMachine && letGoOfMovedAway(control, agent, everyMachine, log);
      // What other hosts' proxies ask of this host's machines.
      const stopRequests = requests && serveRequests({
        requests, hostId: host.id, hints: (kick) => cluster.link.onRequests(host.id, kick), act: (request) => actOnRequest(control, request), log,
      });
      // What half-arrived before a restart is gone: the move it belonged to failed.
      const incomingDir = join(dirname(options.databasePath), 'incoming');
      await rm(incomingDir, { recursive: true, force: true });
      const served = agentApiFor(control, cluster, agent, localVolumes, registry, incomingDir);
      let stopMesh: (() => Promise<void>) | undefined;
      try {
        // Only the instance holding the host publishes its end of the private network.
        stopMesh = everyMachine && await options.mesh?.start(everyMachine);
        await served.listen(cluster.agentListen as { host: string; port: number });
      } catch (error) {
        await stopMesh?.();
        await stopRequests?.();
        await stopWork();
        throw error;
      }
      agentApi = served;
      return async () => {
        stopLettingGo?.();
        await stopMesh?.();
        await stopRequests?.();
        await stopWork();
        agentApi = undefined;
        await served.close();
      };
    };
    const session = hostSession(control, options, {
      address: cluster.agentAddress ?? joinHostPort(cluster.agentListen.host, cluster.agentListen.port),
      anyRegion: false,
      diskBytes: (await localVolumes.space()).totalBytes,
      serve,
      onTakenOver: () => agent.endAll(),
    });
    await session.start();
    stops.push(() => session.stop());
    stops.push(startWatchdog(control, agent, options.watchdogIntervalMs ?? DEFAULTS.watchdogIntervalMs));
    return {
      role: 'host', app, control, driver, proxy, host: session,
      agentApi: () => agentApi,
      idle: () => work.idle(),
      async close() {
        for (const stop of stops.reverse()) await stop();
        await app.close();
        await agent.idle();
        await driver.close();
        await cluster.link.close();
        await store.close();
      },
    };
  } catch (error) {
    // The store and link are the caller's to close when assembling fails.
    for (const stop of stops.reverse()) await stop();
    throw error;
  }
}

/**
 * A machine moved to another host: once the move committed (the directory shows it
 * there), this host ends what it kept of it (its files; it ran nowhere) through the
 * same check recovery makes of machines not its own. Answers the stop.
 */
function letGoOfMovedAway(control: ControlDeps, agent: HostAgent, machines: DirectoryTable, log: Logger): () => void {
  const hostId = control.settings.hostId;
  const here = new Set(machines.all().filter((machine) => machine.hostId === hostId).map((machine) => machine.id));
  return machines.onChange((machine) => {
    if (machine.hostId === hostId) {
      here.add(machine.id);
    } else if (here.delete(machine.id) && machine.state !== 'destroyed') {
      failpoint('migrate.before-cleanup');
      discardWrittenOff(control, agent, [machine.id]).catch((error: unknown) => log.warn({ machineId: machine.id, err: error }, `machine ${machine.id} moved away; its files here stay until the next start`));
    }
  });
}

/** Runs the checks of this host's started machines and records their results; answers the stop. */
async function runChecks(control: ControlDeps, records: CheckRecords, log: Logger): Promise<() => Promise<void>> {
  const table = new MachineTable(control.clock);
  const unfollow = await table.follow(control.store, control.feed);
  const publisher = new CheckPublisher(records, log);
  const monitor = new HealthMonitor(table, privateAddress, control.clock, log, {
    only: (machine) => machine.hostId === control.settings.hostId,
    onResults: (machineId, results) => publisher.publish(machineId, results),
  });
  monitor.start();
  return async () => {
    monitor.stop();
    unfollow();
    await publisher.close();
  };
}

/** The agent API replicas call, for the machines and volumes placed on this host only. */
function agentApiFor(
  control: ControlDeps, cluster: ClusterOptions, agent: HostAgent, volumes: LocalVolumes, metrics: Registry, incomingDir: string,
): FastifyInstance {
  const { store, settings } = control;
  const ownedHere = async (machineId: string) => (await store.getMachineById(machineId))?.hostId === settings.hostId;
  return buildAgentApi({
    runtime: agent, identity: cluster.identity, volumes, metrics,
    snapshots: agent, incomingDir,
    discardUnowned: async (machineId) => {
      if (!(await ownedHere(machineId))) await agent.discard(machineId);
    },
    ownsVolume: async (volumeId) => (await store.getVolume(volumeId))?.hostId === settings.hostId,
    specOf: async (machineId) => {
      const record = await store.getMachineById(machineId);
      return record?.hostId === settings.hostId ? specOf(record) : undefined;
    },
    // Without the database, the machines the agent runs are its own.
    owns: async (machineId) => {
      try {
        return await ownedHere(machineId);
      } catch (error) {
        if (databaseUnreachable(error)) return agent.runs(machineId);
        throw error;
      }
    },
  });
}
