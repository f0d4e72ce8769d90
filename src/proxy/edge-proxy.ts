/**
 * The edge proxy, assembled: the machine table fed by the control plane, load
 * counts, health checks, autostart (waker), routing, the listeners (plain HTTP and
 * TLS found by `Host`, and apps' own host ports) and the autostop loop, with their
 * metrics.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createSecureContext, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { Clock, ProxyActivity, PublicPortReport } from '../domain/ports.ts';
import type { Store } from '../store/store.ts';
import { proxyAddresses } from './addresses.ts';
import { startAutostop } from './autostop-loop.ts';
import { HealthMonitor } from './health-monitor.ts';
import { appOf, byHost, createHttpProxy } from './http-proxy.ts';
import { LoadTracker } from './load-tracker.ts';
import { MachineTable } from './machine-table.ts';
import { ProxyMetrics } from './metrics.ts';
import type { MachineActions, ProxyMachine, ServerCertificates, TlsTermination } from './ports.ts';
import { shareLoads } from './shared-loads.ts';
import { type HostPortRange, PublicPorts } from './public-ports.ts';
import { Router } from './router.ts';
import { HTTP_PORT, HTTPS_PORT, onSharedListener, publicPorts } from './table/services.ts';
import type { TcpProxyOptions } from './tcp-proxy.ts';
import { privateAddress, type Upstreams } from './upstream.ts';
import { trackConnections } from './connections.ts';
import { Waker } from './waker.ts';
import { sandboxTargetOf } from './sandbox-target.ts';

export interface EdgeProxyOptions {
  /** Fills the proxy's table of machines and keeps it current; answers the stop. */
  machines: (table: MachineTable) => Promise<() => void>;
  /** Where apps' own host ports are kept (needed to listen on them). */
  store?: Store;
  actions: MachineActions;
  /** Where this proxy runs, in a cluster: it routes to machines on its host first, then its region's. */
  here?: { hostId: string; region: string };
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
  /**
   * In a cluster: where this host shares its traffic with the other hosts' proxies
   * (shared-loads.ts); of the hosts running an (app, region)'s machines, the first
   * by id decides its autostop.
   */
  shared?: { activity: ProxyActivity; hostId: string };
  /** In a cluster: whether a host was declared lost (its machines get no traffic). */
  hostLost?: (hostId: string) => boolean;
  /** In a cluster: how long the table may lag a replica's commit (RouterOptions.sandboxLagMs). */
  sandboxLagMs?: number;
  /** Certificates for TLS termination; without them no TLS is served. */
  certificates?: ServerCertificates;
}

export interface Listen {
  host: string;
  port: number;
}

/** Where the proxy listens: plain HTTP; TLS (when it has a certificate); apps' own host ports. */
export interface ProxyListeners {
  http: Listen;
  https?: Listen;
  hostPorts?: HostPortRange;
}

export interface EdgeProxy {
  /** The plain HTTP listener (port 80 services, by `Host`). */
  server: Server;
  health: HealthMonitor;
  metrics: ProxyMetrics;
  table: MachineTable;
  /** Starts listening; answers with the bound addresses. */
  listen(listeners: ProxyListeners): Promise<{ http: string; https?: string }>;
  /** Where each of the app's public ports is reached. */
  portsOf(appName: string): PublicPortReport[];
  /** The IP addresses the proxy listens on (every app's public addresses); none until it listens. */
  addresses(): string[];
  close(): Promise<void>;
}

export async function createEdgeProxy(options: EdgeProxyOptions): Promise<EdgeProxy> {
  const log = options.log.child({ component: 'proxy' });
  const upstreams = options.upstreams ?? privateAddress;
  const connectRetryMs = options.connectRetryMs ?? 5_000;
  const table = new MachineTable(options.clock);
  const unfollow = await options.machines(table);
  // A request waiting for room looks again whenever some machine's load drops.
  const loads = new LoadTracker(options.clock, () => router.roomMade());
  const metrics = new ProxyMetrics(loads, table);
  const health = new HealthMonitor(table, upstreams, options.clock, log);
  const waker = new Waker({
    table, actions: options.actions, health, loads, upstreams, timeoutMs: options.wakeTimeoutMs ?? 120_000,
    onWake: (machine, kind, outcome, ms) => {
      metrics.wakes.inc({ app: machine.appName, kind, outcome });
      if (outcome === 'ok') metrics.wakeSeconds.observe({ app: machine.appName, kind }, ms / 1000);
      log.info({ app: machine.appName, machine: machine.id, kind, outcome, ms: Math.round(ms) }, `proxy: woke machine ${machine.id} (${kind}): ${outcome}`);
    },
  });
  const router = new Router({ table, loads, health, waker, upstreams, queueTimeoutMs: options.queueTimeoutMs ?? 10_000, here: options.here, hostLost: options.hostLost, sandboxLagMs: options.sandboxLagMs });
  const certificates = options.certificates;
  // Certificates are issued only for names of apps the proxy serves.
  const tls: TlsTermination | undefined = certificates && {
    fallback: createSecureContext(certificates.fallback),
    SNICallback: (serverName, done) => {
      const app = appOf(serverName, options.domain);
      certificates.contextFor(app && router.knows(app) ? serverName : undefined).then((context) => done(null, context), done);
    },
  };
  const bound: { http?: string; https?: string; httpsPort?: number; hostPortsHost?: string; hosts: string[] } = { hosts: [] };

  const httpProxy = (target: Parameters<typeof createHttpProxy>[0]['target']) => createHttpProxy({
    router, target, log, connectRetryMs, httpsPort: () => bound.httpsPort, sandboxTarget: (req) => sandboxTargetOf(req, options.domain),
    onRequest: (app, machine, status, seconds) => {
      metrics.requests.inc({ app, machine, status: String(status) });
      metrics.latency.observe({ app }, seconds);
    },
  });
  const server = httpProxy(byHost(options.domain, HTTP_PORT));
  const httpsServer = httpProxy(byHost(options.domain, HTTPS_PORT));
  const tlsServer: TlsServer | undefined = certificates && tls
    ? createTlsServer({ ...certificates.fallback, SNICallback: tls.SNICallback }, (socket) => void httpsServer.emit('connection', socket))
    : undefined;
  const tlsConnections = tlsServer && trackConnections(tlsServer, 'secureConnection');
  const tcp: TcpProxyOptions = {
    router, log, connectRetryMs,
    onConnection: (app, machine, seconds) => {
      metrics.connections.inc({ app, machine });
      metrics.connectionSeconds.observe({ app }, seconds);
    },
  };
  let hostPorts: PublicPorts | undefined;

  health.start();
  const { shared } = options;
  const stopSharing = shared ? shareLoads({ activity: shared.activity, hostId: shared.hostId, loads, log }) : async () => undefined;
  const stopAutostop = startAutostop({
    table, loads, waker, actions: options.actions, clock: options.clock, log, idleMs: options.idleMs, suspendMaxMemoryMb: options.suspendMaxMemoryMb,
    ...(shared ? { leads: (group: readonly ProxyMachine[]) => group.map((m) => m.hostId ?? '').sort()[0] === shared.hostId } : {}),
    onRetire: (app, _machine, action) => metrics.autostops.inc({ app, action }),
  });

  return {
    server, health, metrics, table,

    async listen(listeners) {
      bound.http = await listenOn(server, listeners.http);
      bound.hosts.push(listeners.http.host);
      if (tlsServer && listeners.https) {
        bound.https = await listenOn(tlsServer, listeners.https);
        bound.httpsPort = (tlsServer.address() as AddressInfo).port;
        bound.hosts.push(listeners.https.host);
      }
      if (listeners.hostPorts) {
        if (!options.store) throw new Error('apps\' host ports need a store to keep them in');
        hostPorts = new PublicPorts({
          table, store: options.store, router, log, range: listeners.hostPorts, tls, tcp,
          http: (appName, port) => httpProxy(() => ({ appName, port })),
        });
        bound.hostPortsHost = listeners.hostPorts.host;
        bound.hosts.push(listeners.hostPorts.host);
        await hostPorts.start();
      }
      return { http: `http://${bound.http}`, https: bound.https && `https://${bound.https}` };
    },

    portsOf(appName) {
      const ports = new Set(table.ofApp(appName).flatMap((machine) => publicPorts(machine.config)));
      return [...ports].sort((a, b) => a - b).map((port) => {
        const binding = router.bindingOf(appName, port);
        const handlers = binding?.handlers ?? [];
        if (binding && onSharedListener(binding, port)) {
          const listen = port === HTTP_PORT ? bound.http : bound.https;
          return { port, handlers, host: `${appName}.${options.domain}`, ...(listen && { listen }) };
        }
        const hostPort = hostPorts?.hostPortOf(appName, port);
        return { port, handlers, ...(hostPort !== undefined && { listen: joinHostPort(bound.hostPortsHost as string, hostPort) }) };
      });
    },

    addresses() {
      const interfaces = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
      return proxyAddresses(bound.hosts, interfaces);
    },

    async close() {
      stopAutostop();
      await stopSharing();
      health.stop();
      unfollow();
      await hostPorts?.stop();
      for (const s of [server, httpsServer]) s.closeAllConnections();
      tlsConnections?.destroyAll();
      await Promise.all([server, tlsServer].map((s) => s?.listening && new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

function listenOn(server: Server | TlsServer, at: Listen): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject).listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve(joinHostPort(at.host, (server.address() as AddressInfo).port));
    });
  });
}

/** `host:port`, with an IPv6 host in brackets. */
export function joinHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
