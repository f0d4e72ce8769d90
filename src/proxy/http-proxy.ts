/**
 * The HTTP side of the edge proxy: a request for `<app>.<domain>` goes to a
 * machine of that app serving port 80 with the `http` handler. Bodies stream both
 * ways; WebSocket (and other) upgrades are passed through as a raw connection.
 * Load is the requests in flight, under either concurrency type: an idle
 * keep-alive connection from a client neither counts towards the limits nor keeps
 * a machine awake. A machine that refuses the connection is tried again for a
 * while (its app may still be starting), the body held back until it connects.
 * `force_https` is not applied: hangar has no TLS listener yet,
 * and a redirect to one would break every request.
 */
import { Agent, type ClientRequest, createServer, type IncomingHttpHeaders, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage } from '../domain/errors.ts';
import { ProxyError } from './ports.ts';
import type { Routed, Router } from './router.ts';

/** The public port HTTP requests arrive on, in Fly's terms. */
export const HTTP_PORT = 80;

/** Headers that belong to one hop, not to the request (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

export interface HttpProxyOptions {
  router: Router;
  /** Apps are reached as `<app>.<domain>`. */
  domain: string;
  log: Logger;
  /**
   * How long a machine that refuses the connection is tried again: an app that is
   * still starting up after its machine started gets time to listen.
   */
  connectRetryMs: number;
  onRequest?: (appName: string, machineId: string, status: number, seconds: number) => void;
}

/** The pause between two connection attempts to a machine that refused. */
const CONNECT_RETRY_MS = 100;

export function createHttpProxy(options: HttpProxyOptions): Server {
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });
  const server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const began = performance.now();
    const appName = appOf(req.headers.host, options.domain);
    if (!appName || !options.router.knows(appName)) {
      return answerError(res, 404, `no app at ${req.headers.host ?? '(no Host header)'}: use <app>.${options.domain}`);
    }
    let routed: Routed;
    try {
      routed = await options.router.route(appName, HTTP_PORT, true);
    } catch (error) {
      return answerError(res, error instanceof ProxyError ? error.status : 502, errorMessage(error));
    }
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
    const appName = appOf(req.headers.host, options.domain);
    client.on('error', () => client.destroy());
    if (!appName || !options.router.knows(appName)) return rejectUpgrade(client, 404, 'no such app');
    let routed: Routed;
    try {
      routed = await options.router.route(appName, HTTP_PORT, true);
    } catch (error) {
      return rejectUpgrade(client, error instanceof ProxyError ? error.status : 502, errorMessage(error));
    }
    const upstream = connect(routed.address.port, routed.address.host, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.once('error', () => client.destroy());
    client.once('close', () => {
      upstream.destroy();
      routed.release();
      options.log.info({ app: appName, machine: routed.machine.id, method: req.method, path: req.url, upgrade: req.headers.upgrade }, 'proxy upgrade closed');
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
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-forwarded-host'] ??= req.headers.host;
  headers['fly-client-ip'] = client;
  return headers;
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  const named = String(headers.connection ?? '').split(',').map((h) => h.trim().toLowerCase());
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !named.includes(name)) out[name] = value;
  }
  return out;
}

function answerError(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

function rejectUpgrade(client: Socket, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  client.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Service Unavailable'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
