/**
 * The HTTP side of the edge proxy. Each request names its target: on the shared
 * listeners the `Host` header does (`<app>.<domain>`, port 80 over plain HTTP,
 * 443 over TLS); on an app's own host port the port does. Bodies stream both
 * ways; WebSocket (and other) upgrades are passed through as a raw connection.
 * Load is the requests in flight, under either concurrency type: an idle
 * keep-alive connection from a client neither counts towards the limits nor keeps
 * a machine awake. A machine that refuses the connection is tried again for a
 * while (its app may still be starting), the body held back until it connects.
 * A plain request to a port with `force_https` is redirected to the TLS listener.
 */
import { Agent, type ClientRequest, createServer, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { errorMessage } from '../domain/errors.ts';
import { ProxyError } from './ports.ts';
import { type Routed, type Router, SandboxGone } from './router.ts';
import { sandboxMissingBody, type SandboxTarget } from './sandbox-target.ts';
import { CONNECT_RETRY_MS, connectTo } from './upstream.ts';

/** Headers that belong to one hop, not to the request (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

/** The app and public port a request is for, or why there is none (answered 404). */
export type Target = { appName: string; port: number } | { missing: string };

export interface HttpProxyOptions {
  router: Router;
  target: (req: IncomingMessage) => Target;
  log: Logger;
  /**
   * How long a machine that refuses the connection is tried again: an app that is
   * still starting up after its machine started gets time to listen.
   */
  connectRetryMs: number;
  /** The TLS listener's port, where `force_https` sends plain requests; none: no redirect. */
  httpsPort?: () => number | undefined;
  onRequest?: (appName: string, machineId: string, status: number, seconds: number) => void;
  /** E2B sandboxes' ports, named by headers or host (proxy/sandbox-target.ts); none: not served. */
  sandboxTarget?: (req: IncomingMessage) => SandboxTarget | undefined;
}

/** A request's target by its `Host` header, `<app>.<domain>`, for one public port. */
export function byHost(domain: string, port: number): (req: IncomingMessage) => Target {
  return (req) => {
    const appName = appOf(req.headers.host, domain);
    return appName ? { appName, port } : { missing: `no app at ${req.headers.host ?? '(no Host header)'}: use <app>.${domain}` };
  };
}

/** An HTTP server (not listening) that proxies to machines; TLS sockets may be handed to it. */
export function createHttpProxy(options: HttpProxyOptions): Server {
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });
  const server = createServer((req, res) => void handle(req, res));

  /** The target, if the app has machines at all. */
  function targetOf(req: IncomingMessage): Target {
    const target = options.target(req);
    if ('missing' in target || options.router.knows(target.appName)) return target;
    return { missing: `no app at ${req.headers.host ?? '(no Host header)'}: app ${target.appName} has no machines` };
  }

  /**
   * Where a request goes: an E2B sandbox's port named by headers or host, else an
   * app's public port; or the answer that it goes nowhere.
   */
  async function pick(req: IncomingMessage): Promise<{ routed: Routed } | Refusal | { redirect: string }> {
    const sandbox = options.sandboxTarget?.(req);
    const target = targetOf(req);
    if (sandbox && !('appName' in target)) {
      try {
        const routed = await options.router.routeSandbox(sandbox.sandboxId, sandbox.port);
        if (routed) return { routed };
      } catch (error) {
        if (!(error instanceof SandboxGone)) return { status: error instanceof ProxyError ? error.status : 502, body: JSON.stringify({ error: errorMessage(error) }) };
      }
      return { status: 502, body: sandboxMissingBody(sandbox.sandboxId) };
    }
    if ('missing' in target) return { status: 404, body: JSON.stringify({ error: target.missing }) };
    const { appName, port } = target;
    const httpsPort = options.httpsPort?.();
    if (!encrypted(req) && httpsPort !== undefined && options.router.bindingOf(appName, port)?.forceHttps) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      return { redirect: `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}${req.url ?? '/'}` };
    }
    try {
      return { routed: await options.router.route(appName, port, true) };
    } catch (error) {
      return { status: error instanceof ProxyError ? error.status : 502, body: JSON.stringify({ error: errorMessage(error) }) };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const began = performance.now();
    const picked = await pick(req);
    if ('redirect' in picked) return void res.writeHead(301, { location: picked.redirect }).end();
    if ('status' in picked) return answer(res, picked);
    const { routed } = picked;
    const appName = routed.machine.appName;
    const stop = performance.now() + options.connectRetryMs;
    let upstream: ClientRequest | undefined;
    const forward = (): void => {
      let connected = false;
      upstream = request({
        host: routed.address.host, port: routed.address.port, method: req.method, path: req.url, agent,
        headers: forwardedHeaders(req),
      }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
        answer.pipe(res);
      });
      // The body goes out only once a connection is made, so that a refused
      // connection leaves it unread and the request can be tried again.
      upstream.once('socket', (socket) => {
        const send = () => {
          connected = true;
          req.pipe(upstream as ClientRequest);
        };
        if (socket.connecting) socket.once('connect', send);
        else send();
      });
      upstream.once('error', (error) => {
        if (!connected && !res.destroyed && performance.now() < stop) return void setTimeout(forward, CONNECT_RETRY_MS);
        if (!res.headersSent) answerError(res, 502, `machine ${routed.machine.id} did not answer: ${error.message}`);
        else res.destroy();
      });
    };
    res.once('close', () => {
      routed.release();
      upstream?.destroy();
      const seconds = (performance.now() - began) / 1000;
      options.onRequest?.(appName, routed.machine.id, res.statusCode, seconds);
      options.log.info({ app: appName, machine: routed.machine.id, method: req.method, path: req.url, status: res.statusCode, ms: Math.round(seconds * 1000) }, 'proxy request');
    });
    forward();
  }

  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => void upgrade(req, client, head));

  async function upgrade(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    const picked = await pick(req);
    if ('redirect' in picked) return rejectUpgrade(client, { status: 400, body: JSON.stringify({ error: `use ${picked.redirect}` }) });
    if ('status' in picked) return rejectUpgrade(client, picked);
    const { routed } = picked;
    const appName = routed.machine.appName;
    const upstream = await connectTo(routed.address, options.connectRetryMs, () => client.destroyed);
    const closed = () => options.log.info({ app: appName, machine: routed.machine.id, method: req.method, path: req.url, upgrade: req.headers.upgrade }, 'proxy upgrade closed');
    if (upstream instanceof Error || client.destroyed) {
      routed.release();
      if (upstream instanceof Error) rejectUpgrade(client, { status: 502, body: JSON.stringify({ error: `machine ${routed.machine.id} did not answer: ${upstream.message}` }) });
      else upstream.destroy();
      return closed();
    }
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client).pipe(upstream);
    upstream.on('error', () => client.destroy());
    client.once('close', () => {
      upstream.destroy();
      routed.release();
      closed();
    });
  }

  server.on('close', () => agent.destroy());
  return server;
}

/** `myapp.localhost:8080` → `myapp` for domain `localhost`. */
export function appOf(host: string | undefined, domain: string): string | undefined {
  if (!host) return undefined;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const app = name.slice(0, -suffix.length);
  return app && !app.includes('.') ? app : undefined;
}

function forwardedHeaders(req: IncomingMessage): IncomingHttpHeaders {
  const headers = endToEnd(req.headers);
  const client = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${client}` : client;
  headers['x-forwarded-proto'] = encrypted(req) ? 'https' : 'http';
  headers['x-forwarded-host'] ??= req.headers.host;
  headers['fly-client-ip'] = client;
  return headers;
}

function encrypted(req: IncomingMessage): boolean {
  return (req.socket as TLSSocket).encrypted === true;
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  const named = String(headers.connection ?? '').split(',').map((h) => h.trim().toLowerCase());
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !named.includes(name)) out[name] = value;
  }
  return out;
}

/** A request refused: its status and JSON body. */
interface Refusal {
  status: number;
  body: string;
}

function answer(res: ServerResponse, { status, body }: Refusal): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

function answerError(res: ServerResponse, status: number, message: string): void {
  answer(res, { status, body: JSON.stringify({ error: message }) });
}

function rejectUpgrade(client: Socket, { status, body }: Refusal): void {
  client.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
