/**
 * The edge proxy on the fake driver: each machine's port is a local HTTP server
 * that names the machine, so routing, waking and retiring are seen from outside.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TestHangar, testHangar, TOKEN } from '../helpers/hangar.ts';
import { until, viaProxy } from '../helpers/http.ts';

type Handler = (id: string, req: IncomingMessage, res: ServerResponse) => void;

describe('edge proxy', () => {
  let t: TestHangar;
  let proxyUrl: string;
  const servers = new Map<string, Server>();
  const ports = new Map<string, number>();
  let handler: Handler = (id, req, res) => {
    if (req.url === '/health' && unhealthy.has(id)) return void res.writeHead(500).end('sick');
    res.end(`machine ${id}`);
  };
  const unhealthy = new Set<string>();

  /** A local server standing in for the machine's app. */
  async function appServer(id: string): Promise<number> {
    const server = createServer((req, res) => handler(id, req, res));
    // An upgraded connection echoes what it gets, after a 101.
    server.on('upgrade', (_req, socket: Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.set(id, server);
    return (server.address() as AddressInfo).port;
  }

  before(async () => {
    t = await testHangar({
      delays: { bootMs: 30, resumeMs: 10, stopMs: 10, suspendMs: 10 },
      proxy: {
        domain: 'test', idleMs: 400, queueTimeoutMs: 300,
        upstreams: (machine) => ({ host: '127.0.0.1', port: ports.get(machine.id) ?? 1 }),
      },
    });
    await new Promise<void>((resolve) => t.proxy.server.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(t.proxy.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await t.close();
    for (const server of servers.values()) server.close();
  });

  const service = (extra: Record<string, unknown> = {}) => ({
    protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostart: true, ...extra,
  });
  async function machine(app: string, services: unknown[], extra: Record<string, unknown> = {}): Promise<string> {
    const created = await t.machine(app, { config: { image: 'registry.test/hello:1', services, ...extra } });
    ports.set(created.id, await appServer(created.id));
    assert.equal((await t.waitFor(app, created.id, 'started')).status, 200);
    return created.id;
  }
  const get = (app: string, path = '/') => viaProxy(proxyUrl, `${app}.test`, path);
  const text = async (app: string, path = '/') => (await get(app, path)).body;
  const state = async (app: string, id: string) => (await t.call('GET', `/v1/apps/${app}/machines/${id}`)).body.state as string;
  const metricsText = async () => (await t.hangar.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).body;

  it('routes by Host header and answers an unknown app with a 404 naming it', async () => {
    const app = await t.app('routed');
    const id = await machine(app, [service()]);
    assert.equal(await text(app, '/hello'), `machine ${id}`);
    const unknown = await get('nosuch');
    assert.equal(unknown.status, 404);
    assert.match(JSON.parse(unknown.body).error, /no app at nosuch\.test/);
    assert.match(await metricsText(), new RegExp(`hangar_proxy_requests_total\\{app="routed",machine="${id}",status="200"\\} 1`));
  });

  it('streams request and response bodies both ways as they come, and passes an upgrade (WebSocket) through', async () => {
    const app = await t.app('streams');
    const id = await machine(app, [service()]);
    handler = ((previous) => (machineId: string, req: IncomingMessage, res: ServerResponse) => {
      if (machineId !== id) return previous(machineId, req, res);
      res.writeHead(200, { 'content-type': 'text/plain' });
      req.setEncoding('utf8').on('data', (chunk: string) => res.write(chunk.toUpperCase())).on('end', () => res.end('.'));
    })(handler);
    const { hostname, port } = new URL(proxyUrl);
    const { sent, received } = await new Promise<{ sent: string[]; received: string }>((resolve, reject) => {
      const sent: string[] = [];
      const upload = request({ host: hostname, port, method: 'POST', path: '/', headers: { host: `${app}.test` } }, (res) => {
        let received = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          received += chunk;
          // Each piece is sent only once the answer to the one before has come back.
          if (received === 'A') {
            sent.push('b');
            upload.write('b');
          }
          if (received === 'AB') upload.end();
        }).on('end', () => resolve({ sent, received }));
      });
      upload.once('error', reject);
      upload.flushHeaders();
      sent.push('a');
      upload.write('a');
    });
    assert.deepEqual(sent, ['a', 'b']);
    assert.equal(received, 'AB.');

    const echoed = await new Promise<string>((resolve, reject) => {
      request({ host: hostname, port, path: '/ws', headers: { host: `${app}.test`, connection: 'Upgrade', upgrade: 'websocket' } })
        .once('upgrade', (res, socket) => {
          assert.equal(res.statusCode, 101);
          socket.setEncoding('utf8').once('data', (chunk: string) => {
            socket.destroy();
            resolve(chunk);
          });
          socket.write('ping over the upgraded connection');
        })
        .once('error', reject)
        .end();
    });
    assert.equal(echoed, 'ping over the upgraded connection');
  });

  it('holds a request, body included, while a started machine refuses connections, then forwards it', async () => {
    const app = await t.app('late');
    const id = await machine(app, [service()]);
    const lateServer = servers.get(id) as Server;
    const port = ports.get(id) as number;
    await new Promise<void>((resolve) => lateServer.close(() => resolve()));
    handler = ((previous) => (machineId: string, req: IncomingMessage, res: ServerResponse) => {
      if (machineId !== id) return previous(machineId, req, res);
      let body = '';
      req.setEncoding('utf8').on('data', (chunk) => { body += chunk; }).on('end', () => res.end(`got ${body}`));
    })(handler);
    const answer = viaProxy(proxyUrl, `${app}.test`, '/', 10_000, { method: 'POST', body: 'hello' });
    await sleep(300); // the proxy meets a refused connection meanwhile
    await new Promise<void>((resolve) => lateServer.listen(port, '127.0.0.1', resolve));
    const { status, body } = await answer;
    assert.deepEqual({ status, body }, { status: 200, body: 'got hello' });
  });

  it('suspends an idle machine with autostop "suspend" and resumes it for the next request', async () => {
    const app = await t.app('sleepy');
    const id = await machine(app, [service({ autostop: 'suspend' })]);
    assert.equal(await text(app), `machine ${id}`);
    await until(async () => (await state(app, id)) === 'suspended', 'suspended after the idle period');
    assert.equal(await text(app), `machine ${id}`, 'the request woke it and got its answer');
    assert.equal(await state(app, id), 'started');
    assert.match(await metricsText(), /hangar_proxy_wakes_total\{app="sleepy",kind="resume",outcome="ok"\} 1/);
    assert.match(await metricsText(), /hangar_proxy_autostops_total\{app="sleepy",action="suspend"\} 1/);
  });

  it('stops an idle machine with autostop "stop" and cold starts it for the next request', async () => {
    const app = await t.app('stopper');
    const id = await machine(app, [service({ autostop: 'stop' })]);
    await until(async () => (await state(app, id)) === 'stopped', 'stopped after the idle period');
    assert.equal(await text(app), `machine ${id}`);
    assert.match(await metricsText(), /hangar_proxy_wakes_total\{app="stopper",kind="cold",outcome="ok"\} 1/);
  });

  it('wakes a machine whose lease another holds: leases bind API clients (a deploy), not the platform', async () => {
    const app = await t.app('leased-sleeper');
    const id = await machine(app, [service()]);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${id}/stop`)).status, 200);
    await t.waitFor(app, id, 'stopped');
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${id}/lease`, { description: 'a deploy' })).status, 201);
    const woken = await get(app);
    assert.equal(woken.status, 200, woken.body);
    assert.equal(woken.body, `machine ${id}`);
  });

  it('keeps min_machines_running and retires the rest', async () => {
    const app = await t.app('keeper');
    const ids = [await machine(app, [service({ autostop: 'stop', min_machines_running: 1 })]), await machine(app, [service({ autostop: 'stop', min_machines_running: 1 })])];
    await until(async () => (await Promise.all(ids.map((id) => state(app, id)))).includes('stopped'), 'one machine stopped');
    await sleep(1000); // several more passes
    const states = await Promise.all(ids.map((id) => state(app, id)));
    assert.deepEqual(states.sort(), ['started', 'stopped']);
  });

  it('sends no traffic to cordoned machines or to machines failing their health checks', async () => {
    const app = await t.app('picky');
    const check = { type: 'http', path: '/health', interval: '1s', timeout: '1s' };
    const [a, b, c] = [await machine(app, [service({ checks: [check] })]), await machine(app, [service({ checks: [check] })]), await machine(app, [service({ checks: [check] })])];
    unhealthy.add(c);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${a}/cordon`)).status, 200);
    await until(async () => {
      const shown = (await t.call('GET', `/v1/apps/${app}/machines/${c}`)).body;
      return shown.checks[0]?.status === 'critical';
    }, 'the failing check is critical');
    const shownB = (await t.call('GET', `/v1/apps/${app}/machines/${b}`)).body;
    assert.equal(shownB.checks[0].name, 'servicecheck-00-http-8080');
    assert.equal(shownB.checks[0].status, 'passing');
    const answers = new Set<string>();
    for (let i = 0; i < 12; i++) answers.add(await text(app));
    assert.deepEqual([...answers], [`machine ${b}`]);
  });

  it('wakes a second machine for a burst beyond soft_limit, and answers 503 past every hard limit', async () => {
    const app = await t.app('bursty');
    const concurrency = { type: 'requests', soft_limit: 1, hard_limit: 1 };
    const first = await machine(app, [service({ concurrency })]);
    const second = await machine(app, [service({ concurrency })]);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${second}/stop`)).status, 200);
    assert.equal((await t.waitFor(app, second, 'stopped')).status, 200);
    const release: Array<() => void> = [];
    const previous = handler;
    // Held until released; other apps' servers (health checks) answer as before.
    handler = (id, req, res) => (id === first || id === second ? release.push(() => res.end(`machine ${id}`)) : previous(id, req, res));
    try {
      const one = text(app);
      await until(async () => release.length === 1, 'the first request reached a machine');
      const two = text(app);
      await until(async () => release.length === 2, 'the second request reached a machine');
      assert.equal(await state(app, second), 'started', 'the burst woke the stopped machine');
      const three = await get(app);
      assert.equal(three.status, 503);
      assert.match(JSON.parse(three.body).error, /every machine is at its hard limit/);
      for (const done of release) done();
      assert.deepEqual([await one, await two].sort(), [`machine ${first}`, `machine ${second}`].sort());
    } finally {
      handler = previous;
    }
  });
});
