/** Polls a URL until it answers: a machine's process may run before its server listens. */
import { type IncomingHttpHeaders, request } from 'node:http';
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
