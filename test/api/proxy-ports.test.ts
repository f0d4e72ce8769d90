/**
 * The edge proxy's other listeners on the fake driver: raw TCP and TLS services on
 * host ports of their own (kept across restarts), HTTPS on the shared TLS listener
 * by `Host`, and `force_https`. Each machine's ports are local servers that name
 * the machine.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { localAuthority, type TlsIdentity } from '../../src/system/tls-identity.ts';
import { readFileSync } from 'node:fs';
import { type TestHangar, testHangar, TOKEN } from '../helpers/hangar.ts';
import { exchange, until, viaProxy, viaTls } from '../helpers/http.ts';

const FIRST_PORT = 23_000 + 10 * Math.floor(Math.random() * 500);

describe('edge proxy: host ports and TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-ports-'));
  let t: TestHangar;
  let identity: TlsIdentity;
  let trusted: Buffer;
  let urls: { http: string; https?: string };
  /** `machineId:internalPort` → the local port standing in for it. */
  const backends = new Map<string, number>();
  const servers: Array<Server | HttpServer> = [];

  async function start(): Promise<void> {
    t = await testHangar({
      dir,
      proxy: {
        domain: 'test', idleMs: 60_000, certificates: identity,
        upstreams: (machine, port) => ({ host: '127.0.0.1', port: backends.get(`${machine.id}:${port}`) ?? 1 }),
      },
    });
    urls = await t.proxy.listen({
      http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 },
      hostPorts: { host: '127.0.0.1', first: FIRST_PORT, last: FIRST_PORT + 9 },
    });
  }

  before(async () => {
    identity = await localAuthority(join(dir, 'tls'), 'test');
    trusted = readFileSync(identity.trustFile);
    await start();
  });
  after(async () => {
    await t.close();
    for (const server of servers) server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A TCP server that answers each connection's bytes with `<machine id>:<bytes>` once the client finishes sending. */
  async function echo(id: string, port: number): Promise<void> {
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      let got = '';
      socket.setEncoding('utf8').on('data', (chunk) => { got += chunk; }).on('end', () => socket.end(`${id}:${got}`));
    });
    await listen(server, id, port);
  }
  async function web(id: string, port: number): Promise<void> {
    await listen(createHttpServer((req, res) => res.end(`${id} ${req.headers['x-forwarded-proto']} ${req.url}`)), id, port);
  }
  async function listen(server: Server | HttpServer, id: string, port: number): Promise<void> {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    backends.set(`${id}:${port}`, (server.address() as { port: number }).port);
  }
  async function machine(app: string, services: unknown[]): Promise<string> {
    const created = await t.machine(app, { config: { image: 'registry.test/hello:1', services } });
    assert.equal((await t.waitFor(app, created.id, 'started')).status, 200);
    return created.id;
  }
  const portsOf = async (app: string) => (await t.call('GET', `/hangar/v1/apps/${app}/ports`)).body;
  const tcpService = (port: number, handlers: string[] = []) => ({ protocol: 'tcp', internal_port: 5000, ports: [{ port, handlers }], autostart: true });

  it('gives a raw TCP service a host port of its own, carries bytes both ways, and shows where it listens', async () => {
    const app = await t.app('pg');
    const id = await machine(app, [tcpService(5432)]);
    await echo(id, 5000);
    const { ports } = await portsOf(app);
    assert.deepEqual(ports, [{ port: 5432, handlers: [], listen: `127.0.0.1:${FIRST_PORT}` }]);
    assert.equal(await exchange(connect(FIRST_PORT, '127.0.0.1'), 'ping'), `${id}:ping`);
    const metrics = async () => (await t.hangar.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).body;
    await until(async () => (await metrics()).includes(`hangar_proxy_connections_total{app="pg",machine="${id}"} 1`), 'the connection counted');
  });

  it('steps over a host port another process holds, and keeps every app its port across a restart', async () => {
    const squatter = createServer();
    squatter.listen(FIRST_PORT + 1, '127.0.0.1');
    await once(squatter, 'listening');
    const app = await t.app('redis');
    const id = await machine(app, [tcpService(6379)]);
    await echo(id, 5000);
    assert.deepEqual((await portsOf(app)).ports[0].listen, `127.0.0.1:${FIRST_PORT + 2}`);
    squatter.close();
    // Destroying pg's machine closes its listener; its port stays pg's.
    const [pgMachine] = (await t.call('GET', '/v1/apps/pg/machines')).body;
    assert.equal((await t.call('DELETE', `/v1/apps/pg/machines/${pgMachine.id}?force=true`)).status, 200);
    await until(async () => (await portsOf('pg')).ports.length === 0, 'pg has no ports once its machine is gone');

    await t.close();
    await start();
    // The test's new driver has no VMs: the machine is started again by recovery.
    assert.equal((await t.waitFor(app, id, 'started')).status, 200);
    assert.deepEqual((await portsOf(app)).ports[0].listen, `127.0.0.1:${FIRST_PORT + 2}`, 'not the lowest free port: the one it had');
    assert.equal(await exchange(connect(FIRST_PORT + 2, '127.0.0.1'), 'after'), `${id}:after`);
    const other = await t.app('memcached');
    const otherId = await machine(other, [tcpService(11211)]);
    await echo(otherId, 5000);
    assert.deepEqual((await portsOf(other)).ports[0].listen, `127.0.0.1:${FIRST_PORT + 1}`, 'pg keeps the first port; the squatted one is free now');
  });

  it('serves port 443 over TLS by Host and redirects plain requests for force_https', async () => {
    const app = await t.app('secure');
    const id = await machine(app, [{
      protocol: 'tcp', internal_port: 8080, autostart: true,
      ports: [{ port: 80, handlers: ['http'], force_https: true }, { port: 443, handlers: ['tls', 'http'] }],
    }]);
    await web(id, 8080);
    const httpsPort = Number(new URL(urls.https as string).port);
    const plain = await viaProxy(urls.http, `${app}.test`, '/x?y=1');
    assert.equal(plain.status, 301);
    assert.equal(plain.headers.location, `https://${app}.test:${httpsPort}/x?y=1`);
    assert.equal((await viaTls(urls.https as string, `${app}.test`, '/x', trusted)).body, `${id} https /x`, 'the certificate is valid for the app name and the request reached the machine');
    const { ports } = await portsOf(app);
    assert.deepEqual(ports.map((p: { port: number; listen: string; host: string }) => [p.port, p.listen, p.host]), [
      [80, new URL(urls.http).host, `${app}.test`],
      [443, new URL(urls.https as string).host, `${app}.test`],
    ]);
  });

  it('terminates TLS on an app port with the tls handler alone and passes the bytes on', async () => {
    const app = await t.app('tlsraw');
    const id = await machine(app, [tcpService(6000, ['tls'])]);
    await echo(id, 5000);
    const hostPort = Number((await portsOf(app)).ports[0].listen.split(':')[1]);
    const socket = tlsConnect({ host: '127.0.0.1', port: hostPort, servername: `${app}.test`, ca: trusted });
    await once(socket, 'secureConnect');
    assert.equal(await exchange(socket, 'hello'), `${id}:hello`);
  });

  it('answers 404 for the ports of an app that does not exist', async () => {
    const reply = await t.call('GET', '/hangar/v1/apps/nosuch/ports');
    assert.equal(reply.status, 404);
    assert.match(reply.body.error, /nosuch/);
  });
});
