/** Reaching machines over HTTP, HTTPS and TCP: through hangar's proxy, and polling until a server listens. */
import { once } from 'node:events';
import { type IncomingHttpHeaders, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** The body of the first answer, or '' if none came in `attempts` tries. */
export async function textWhenUp(url: string, options: { attempts?: number; timeoutMs?: number } = {}): Promise<string> {
  for (let attempt = 0; attempt < (options.attempts ?? 100); attempt++) {
    const body = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 2000) }).then((r) => r.text(), () => '');
    if (body) return body;
    await sleep(100);
  }
  return '';
}

/** A GET through hangar's proxy with the given Host header (fetch does not let a caller set Host). */
export function viaProxy(proxyUrl: string, host: string, path = '/', timeoutMs = 120_000, send: { method?: string; body?: string } = {}): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request(`${proxyUrl}${path}`, { method: send.method ?? 'GET', headers: { host }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => { body += chunk; }).on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer from ${host}${path} within ${timeoutMs} ms`)));
    req.once('error', reject).end(send.body);
  });
}

/** Resolves once `check` holds; throws naming `what` after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(25);
  }
}

/** A GET over TLS, naming `host` in SNI and `Host`, trusting `ca`. */
export function viaTls(tlsUrl: string, host: string, path: string, ca: Buffer): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(tlsUrl);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: hostname, port, path, servername: host, headers: { host }, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => { body += chunk; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject).end();
  });
}

/** Sends `text` on an open connection, half-closes it, and reads everything until the other side closes. */
export async function exchange(socket: Socket, text: string): Promise<string> {
  let got = '';
  socket.setEncoding('utf8').on('data', (chunk) => { got += chunk; });
  socket.end(text);
  await once(socket, 'close');
  return got;
}
