/**
 * Authentication belongs to the matched route: every served operation, reached
 * through any spelling of its path the router accepts (percent-encoded, double-
 * encoded, with dot segments, in absolute form), answers 401 without a token and
 * changes nothing. Requests go over a real socket, so the request target is sent
 * exactly as written.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

const PUBLIC = new Set(['/healthz', '/openapi.json']);

/** One raw HTTP/1.1 request; resolves with the status code. */
function rawRequest(port: number, method: string, target: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      data += chunk;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`no status line for ${method} ${target}: ${JSON.stringify(data)}`)));
    const head = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
    if (body !== undefined) head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
    socket.end(`${head.join('\r\n')}\r\n\r\n${body ?? ''}`);
  });
}

/** Every way of writing `path` that a router decoding paths might take for it. */
function spellings(path: string, port: number): string[] {
  const segments = path.split('/');
  const encodeFirst = (text: string, twice: boolean) => {
    const at = text.search(/[a-z]/);
    if (at < 0) return text;
    const code = `%${text.charCodeAt(at).toString(16)}`;
    return text.slice(0, at) + (twice ? code.replace('%', '%25') : code) + text.slice(at + 1);
  };
  const last = segments.length - 1;
  return [
    path,
    segments.map((s, i) => (i === 1 ? encodeFirst(s, false) : s)).join('/'),
    segments.map((s, i) => (i === last ? encodeFirst(s, false) : s)).join('/'),
    segments.map((s, i) => (i === 1 ? encodeFirst(s, true) : s)).join('/'),
    `/x/..${path}`,
    `/./${path.slice(1)}`,
    `/x/%2e%2e${path}`,
    `/${path}`,
    `http://127.0.0.1:${port}${path}`,
    `http://evil.example${path}`,
    path.replace('/v1/', '/V1/'),
    path.replace('/', '/%2F'),
  ];
}

describe('authentication is by the matched route', () => {
  let t: TestHangar;
  let port: number;
  let operations: Array<{ method: string; path: string }>;
  before(async () => {
    t = await testHangar();
    await t.app('victim');
    const machine = await t.machine('victim');
    await t.waitFor('victim', machine.id, 'started');
    await t.hangar.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.hangar.app.server.address() as { port: number }).port;
    const doc = t.hangar.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    const fill = (path: string) => path
      .replace('{app_name}', 'victim').replace('{machine_id}', machine.id).replace('{org_slug}', 'personal')
      .replace(/\{[a-z_]+\}/g, 'x');
    operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path: fill(path) })));
    operations.push({ method: 'GET', path: '/metrics' });
  });
  after(() => t.close());

  it('covers every operation the API documents', () => {
    assert.ok(operations.length >= 40, `only ${operations.length} operations found`);
    assert.ok(operations.some((o) => o.method === 'POST' && o.path === '/hangar/v1/images/pull'));
  });

  it('answers 401 to every operation, however its path is spelled, and changes nothing', async () => {
    const before = JSON.stringify((await t.call('GET', '/v1/apps/victim/machines')).body.map((m: { id: string; state: string }) => [m.id, m.state]));
    const failures: string[] = [];
    for (const { method, path } of operations) {
      if (PUBLIC.has(path)) continue;
      for (const target of spellings(path, port)) {
        const body = method === 'GET' || method === 'DELETE' ? undefined : '{}';
        const status = await rawRequest(port, method, target, body);
        // 400 is the HTTP parser refusing the request line before any route runs.
        if (status !== 401 && status !== 400) failures.push(`${method} ${target} → ${status}`);
      }
    }
    assert.deepEqual(failures, []);
    const after = JSON.stringify((await t.call('GET', '/v1/apps/victim/machines')).body.map((m: { id: string; state: string }) => [m.id, m.state]));
    assert.equal(after, before);
    assert.equal((await t.call('GET', '/v1/apps/victim')).status, 200);
  });

  it('serves the public list without a token', async () => {
    for (const path of PUBLIC) assert.equal(await rawRequest(port, 'GET', path), 200, path);
  });

  it('serves /metrics only with the token', async () => {
    assert.equal(await rawRequest(port, 'GET', '/metrics'), 401);
    assert.equal((await t.hangar.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer test-token-123' } })).statusCode, 200);
  });

  it('answers unknown paths 401 without a token, 404 with one', async () => {
    assert.equal(await rawRequest(port, 'GET', '/nowhere'), 401);
    assert.equal((await t.call('GET', '/nowhere')).status, 404);
  });
});
