/**
 * Host ports for apps' public ports that the shared listeners do not serve (see
 * `onSharedListener`): raw TCP, TLS, HTTP on ports other than 80 and 443. Each
 * (app, public port) gets a port from a configured range, kept in the store so
 * that it survives restarts, and a listener there while some machine of the app
 * exposes the port. A connection is served by the service's handlers: `tls`
 * terminates TLS, `http` proxies requests, and without `http` the bytes pass
 * through as they are.
 */
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { errorMessage } from '../domain/errors.ts';
import type { Store } from '../store/store.ts';
import { trackConnections } from './connections.ts';
import type { MachineTable } from './machine-table.ts';
import type { TlsTermination } from './ports.ts';
import type { Router } from './router.ts';
import { onSharedListener, publicPorts, serviceOn, speaksHttp } from './table/services.ts';
import { forwardConnection, type TcpProxyOptions } from './tcp-proxy.ts';

/** The host ports the proxy may give out, first to last inclusive. */
export interface HostPortRange {
  host: string;
  first: number;
  last: number;
}

export interface PublicPortsOptions {
  table: MachineTable;
  store: Store;
  router: Router;
  log: Logger;
  range: HostPortRange;
  /** Present when TLS may be terminated. */
  tls?: TlsTermination;
  tcp: TcpProxyOptions;
  /** An HTTP proxy for one app's public port, for services with the `http` handler. */
  http: (appName: string, port: number) => HttpServer;
}

/** How many taken host ports one allocation steps over before giving up. */
const MAX_BUSY_TRIES = 20;

export class PublicPorts {
  private readonly options: PublicPortsOptions;
  private readonly listeners = new Map<string, { server: Server; hostPort: number; connections: { destroyAll(): void }; http?: HttpServer }>();
  /** Host ports some other process holds: never handed out again by this process. */
  private readonly busy = new Set<number>();
  private queue: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;

  constructor(options: PublicPortsOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    this.unsubscribe = this.options.table.onChange((machine) => this.schedule(machine.appName));
    for (const appName of new Set(this.options.table.all().map((m) => m.appName))) this.schedule(appName);
    await this.queue;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.queue;
    await Promise.all([...this.listeners.keys()].map((key) => this.close(key)));
  }

  /** The host port serving the app's public port, if one is listening. */
  hostPortOf(appName: string, port: number): number | undefined {
    return this.listeners.get(key(appName, port))?.hostPort;
  }

  /** Openings and closings run one at a time, in the order the changes came. */
  private schedule(appName: string): void {
    this.queue = this.queue.then(() => this.reconcile(appName)).catch((error: unknown) => {
      this.options.log.error({ app: appName, err: errorMessage(error) }, `proxy: host ports of app ${appName} not updated`);
    });
  }

  private async reconcile(appName: string): Promise<void> {
    const wanted = this.wantedPorts(appName);
    for (const port of wanted) {
      if (!this.listeners.has(key(appName, port))) await this.open(appName, port);
    }
    for (const k of this.listeners.keys()) {
      const [app, port] = parseKey(k);
      if (app === appName && !wanted.has(port)) await this.close(k);
    }
  }

  private wantedPorts(appName: string): Set<number> {
    const wanted = new Set<number>();
    for (const machine of this.options.table.ofApp(appName)) {
      for (const port of publicPorts(machine.config)) {
        const binding = serviceOn(machine.config, port);
        if (binding && !onSharedListener(binding, port)) wanted.add(port);
      }
    }
    return wanted;
  }

  private async open(appName: string, port: number): Promise<void> {
    const { store, range, log } = this.options;
    for (let tries = 0; tries < MAX_BUSY_TRIES; tries++) {
      const { hostPort } = await store.allocatePublicPort(appName, port, (taken) => firstFree(range, taken, this.busy));
      const server = createServer({ allowHalfOpen: true }, (socket) => this.serve(socket, appName, port));
      const connections = trackConnections(server);
      const error = await listen(server, hostPort, range.host);
      if (!error) {
        this.listeners.set(key(appName, port), { server, hostPort, connections });
        log.info({ app: appName, port, hostPort }, `proxy: app ${appName} port ${port} listens on ${range.host}:${hostPort}`);
        return;
      }
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      log.warn({ app: appName, port, hostPort }, `proxy: host port ${hostPort} is taken by another process; choosing another for app ${appName} port ${port}`);
      this.busy.add(hostPort);
      await store.releasePublicPort(appName, port);
    }
    throw new Error(`no free host port for app ${appName} port ${port} after ${MAX_BUSY_TRIES} tries`);
  }

  private async close(k: string): Promise<void> {
    const listener = this.listeners.get(k);
    if (!listener) return;
    this.listeners.delete(k);
    listener.connections.destroyAll();
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
  }

  private serve(socket: Socket, appName: string, port: number): void {
    const binding = this.options.router.bindingOf(appName, port);
    socket.on('error', () => socket.destroy());
    if (!binding) return void socket.destroy();
    let connection: Socket = socket;
    if (binding.handlers.includes('tls')) {
      const tls = this.options.tls;
      if (!tls) {
        this.options.log.warn({ app: appName, port }, 'proxy: a tls service needs a certificate; connection closed');
        return void socket.destroy();
      }
      connection = new TLSSocket(socket, { isServer: true, secureContext: tls.fallback, SNICallback: tls.SNICallback });
    }
    if (speaksHttp(binding)) return void this.httpServer(appName, port).emit('connection', connection);
    void forwardConnection(connection, appName, port, this.options.tcp);
  }

  private httpServer(appName: string, port: number): HttpServer {
    const listener = this.listeners.get(key(appName, port));
    if (!listener) throw new Error(`app ${appName} port ${port} has no listener`);
    listener.http ??= this.options.http(appName, port);
    return listener.http;
  }
}

function key(appName: string, port: number): string {
  return `${appName}:${port}`;
}

function parseKey(k: string): [string, number] {
  const at = k.lastIndexOf(':');
  return [k.slice(0, at), Number(k.slice(at + 1))];
}

/** The lowest port of the range that nobody holds. */
export function firstFree(range: HostPortRange, taken: ReadonlySet<number>, busy: ReadonlySet<number>): number | undefined {
  for (let p = range.first; p <= range.last; p++) {
    if (!taken.has(p) && !busy.has(p)) return p;
  }
  return undefined;
}

function listen(server: Server, port: number, host: string): Promise<Error | undefined> {
  return new Promise((resolve) => {
    server.once('error', resolve);
    server.listen(port, host, () => {
      server.off('error', resolve);
      resolve(undefined);
    });
  });
}
