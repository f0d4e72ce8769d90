/**
 * The edge proxy, assembled: the machine table fed by the control plane, load
 * counts, health checks, autostart (waker), routing, the HTTP listener and the
 * autostop loop, with their metrics.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { MachineFeed } from '../control/machine-feed.ts';
import type { Clock } from '../control/ports.ts';
import type { Store } from '../store/store.ts';
import { startAutostop } from './autostop-loop.ts';
import { HealthMonitor } from './health-monitor.ts';
import { createHttpProxy } from './http-proxy.ts';
import { LoadTracker } from './load-tracker.ts';
import { MachineTable } from './machine-table.ts';
import { ProxyMetrics } from './metrics.ts';
import type { MachineActions } from './ports.ts';
import { Router } from './router.ts';
import { privateAddress, type Upstreams } from './upstream.ts';
import { Waker } from './waker.ts';

export interface EdgeProxyOptions {
  store: Store;
  feed: MachineFeed;
  actions: MachineActions;
  clock: Clock;
  log: Logger;
  /** Apps are reached as `<app>.<domain>`. */
  domain: string;
  /** Idle period before autostop acts. */
  idleMs: number;
  suspendMaxMemoryMb: number;
  upstreams?: Upstreams;
  wakeTimeoutMs?: number;
  queueTimeoutMs?: number;
  /** How long a machine that refuses a connection is tried again (default 5 s). */
  connectRetryMs?: number;
}

export interface EdgeProxy {
  server: Server;
  health: HealthMonitor;
  metrics: ProxyMetrics;
  table: MachineTable;
  close(): Promise<void>;
}

export async function createEdgeProxy(options: EdgeProxyOptions): Promise<EdgeProxy> {
  const log = options.log.child({ component: 'proxy' });
  const upstreams = options.upstreams ?? privateAddress;
  const table = new MachineTable(options.clock);
  const unfollow = await table.follow(options.store, options.feed);
  // A request waiting for room looks again whenever some machine's load drops.
  const loads = new LoadTracker(options.clock, () => router.roomMade());
  const metrics = new ProxyMetrics(loads, table);
  const health = new HealthMonitor(table, upstreams, options.clock);
  const waker = new Waker({
    table, actions: options.actions, health, loads, upstreams, timeoutMs: options.wakeTimeoutMs ?? 120_000,
    onWake: (machine, kind, outcome, ms) => {
      metrics.wakes.inc({ app: machine.appName, kind, outcome });
      if (outcome === 'ok') metrics.wakeSeconds.observe({ app: machine.appName, kind }, ms / 1000);
      log.info({ app: machine.appName, machine: machine.id, kind, outcome, ms: Math.round(ms) }, `proxy: woke machine ${machine.id} (${kind}): ${outcome}`);
    },
  });
  const router = new Router({ table, loads, health, waker, upstreams, queueTimeoutMs: options.queueTimeoutMs ?? 10_000 });
  const server = createHttpProxy({
    router, domain: options.domain, log, connectRetryMs: options.connectRetryMs ?? 5_000,
    onRequest: (app, machine, status, seconds) => {
      metrics.requests.inc({ app, machine, status: String(status) });
      metrics.latency.observe({ app }, seconds);
    },
  });
  health.start();
  const stopAutostop = startAutostop({
    table, loads, waker, actions: options.actions, clock: options.clock, log, idleMs: options.idleMs, suspendMaxMemoryMb: options.suspendMaxMemoryMb,
    onRetire: (app, _machine, action) => metrics.autostops.inc({ app, action }),
  });
  return {
    server, health, metrics, table,
    async close() {
      stopAutostop();
      health.stop();
      unfollow();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
