/**
 * The edge proxy on real microVMs, through `hangar serve --driver qemu
 * --autostop-after 2s`: an idle machine with autostop "suspend" is suspended and
 * the next request resumes it (same boot) and gets the right answer; with "stop"
 * the same through a cold boot; min_machines_running is kept; cordoned and
 * unhealthy machines get no traffic; a burst beyond soft_limit wakes a second machine;
 * raw TCP on an app's host port and HTTPS on the TLS listener reach the machine,
 * and a TCP connection wakes it too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { exchange, until, viaProxy, viaTls } from '../helpers/http.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'httpd', 'mkdir', 'printf', 'chmod', 'nc'];
const TOKEN = 'proxy-token';
/** The app answers with its boot id: the same after a resume, a new one after a cold boot. /cgi-bin/slow takes 3 s. */
const SLOW_CGI = ['#!/bin/sh', 'sleep 3', 'printf "Content-Type: text/plain\\r\\n\\r\\n"', 'cat /proc/sys/kernel/random/boot_id'];
/** Port 7000 answers a line of raw TCP with the boot id and the line. */
const ECHO = ['#!/bin/sh', 'read line', 'echo "$(cat /proc/sys/kernel/random/boot_id) $line"'];
const script = (lines: string[], path: string) => `printf '%s\\n' ${lines.map((line) => `'${line}'`).join(' ')} > ${path}; chmod 755 ${path}; `;
const APP = 'mkdir -p /www/cgi-bin; cat /proc/sys/kernel/random/boot_id > /www/index.html; '
  + script(SLOW_CGI, '/www/cgi-bin/slow') + script(ECHO, '/www/echo')
  + 'nc -ll -p 7000 -e /www/echo & exec httpd -f -p 8080 -h /www';

describe('edge proxy on real machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-proxy-'));
  const data = join(dir, 'data');
  const netns = `hgr-prox-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'proxy/app', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/proxy/app:1`;
    server = await startServerProcess(data, TOKEN, ['--driver', 'qemu', '--netns', netns, '--autostop-after', '2s', '--proxy-domain', 'hangar.test']);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const service = (extra: Record<string, unknown> = {}) => ({ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostart: true, ...extra });
  async function app(name: string): Promise<string> {
    assert.equal((await api('POST', '/v1/apps', { name })).status, 201);
    return name;
  }
  async function machine(appName: string, config: Record<string, unknown>): Promise<string> {
    const reply = await api('POST', `/v1/apps/${appName}/machines`, { config: { image, restart: { policy: 'no' }, ...config } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const id = reply.body.id as string;
    assert.equal((await api('GET', `/v1/apps/${appName}/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    // The app's server listens a moment after its process starts. Under TCG that can be longer than autostop's
    // 2 s, and a look at the machine's own address is no traffic: one retired before it listens is started again.
    await until(async () => {
      if ((await fetch(`http://[${reply.body.private_ip}]:8080/`).then((r) => r.status, () => 0)) === 200) return true;
      if (['suspended', 'stopped'].includes(await state(appName, id))) await api('POST', `/v1/apps/${appName}/machines/${id}/start`);
      return false;
    }, 'the app listens', 60_000);
    return id;
  }
  /** A counter of /metrics, 0 while it has no sample. */
  const counter = async (sample: string) => {
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.token}` } })).text();
    const line = metrics.split('\n').find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  };
  const WAKES = (app: string) => `hangar_proxy_wakes_total{app="${app}",kind="resume",outcome="ok"}`;
  const AUTOSTOPS = (app: string) => `hangar_proxy_autostops_total{app="${app}",action="suspend"}`;
  const state = async (appName: string, id: string) => (await api('GET', `/v1/apps/${appName}/machines/${id}`)).body.state as string;
  const get = (appName: string, path = '/') => viaProxy(server.proxyUrl, `${appName}.hangar.test`, path);
  const bootOf = async (appName: string, id: string) => (await api('POST', `/v1/apps/${appName}/machines/${id}/exec`, { command: ['cat', '/proc/sys/kernel/random/boot_id'] })).body.stdout as string;
  const lastStart = async (appName: string, id: string) => {
    const events = (await api('GET', `/v1/apps/${appName}/machines/${id}`)).body.events as Array<{ type: string; status: string; request: Record<string, unknown> }>;
    return events.find((e) => e.type === 'start' && e.status === 'started')?.request ?? {};
  };
  const destroyAll = async (appName: string, ids: string[]) => {
    for (const id of ids) assert.equal((await api('DELETE', `/v1/apps/${appName}/machines/${id}?force=true`)).status, 200);
  };

  it('suspends an idle machine with autostop "suspend"; the next request resumes it and gets its answer', async () => {
    const name = await app('sleepy');
    const id = await machine(name, { services: [service({ autostop: 'suspend' })] });
    const first = await get(name);
    assert.equal(first.status, 200, first.body);
    await until(async () => (await state(name, id)) === 'suspended', 'autosuspend', 60_000);
    // Counted from here: a slow boot may have been idle for 2 s, and suspended once, before the first request.
    const [wakes, autostops] = [await counter(WAKES('sleepy')), await counter(AUTOSTOPS('sleepy'))];
    assert.ok(autostops >= 1, 'the autosuspend is counted');
    const woken = await get(name);
    assert.equal(woken.status, 200, woken.body);
    assert.equal(woken.body, first.body, 'the same boot answered: resumed, not rebooted');
    assert.equal(await state(name, id), 'started');
    assert.equal((await lastStart(name, id)).resumed, true);
    assert.equal(await counter(WAKES('sleepy')), wakes + 1, 'one wake for the request');
    await destroyAll(name, [id]);
  });

  it('stops an idle machine with autostop "stop"; the next request cold starts it', async () => {
    const name = await app('stopper');
    const id = await machine(name, { services: [service({ autostop: 'stop' })] });
    const first = await get(name);
    assert.equal(first.status, 200, first.body);
    await until(async () => (await state(name, id)) === 'stopped', 'autostop', 60_000);
    const woken = await get(name);
    assert.equal(woken.status, 200, woken.body);
    assert.notEqual(woken.body, first.body, 'a new boot answered');
    assert.equal(woken.body, await bootOf(name, id));
    await destroyAll(name, [id]);
  });

  it('keeps min_machines_running', async () => {
    const name = await app('keeper');
    const config = { services: [service({ autostop: 'stop', min_machines_running: 1 })] };
    const ids = [await machine(name, config), await machine(name, config)];
    await until(async () => (await Promise.all(ids.map((id) => state(name, id)))).includes('stopped'), 'one machine stopped', 60_000);
    await sleep(5000); // ten more passes of the loop
    assert.deepEqual((await Promise.all(ids.map((id) => state(name, id)))).sort(), ['started', 'stopped']);
    await destroyAll(name, ids);
  });

  it('sends no traffic to a cordoned machine or to one failing its health check', async () => {
    const name = await app('picky');
    const check = (path: string) => ({ services: [service({ checks: [{ type: 'http', path, interval: '1s', timeout: '2s' }] })] });
    const [cordoned, healthy, failing] = [await machine(name, check('/')), await machine(name, check('/')), await machine(name, check('/missing'))];
    assert.equal((await api('POST', `/v1/apps/${name}/machines/${cordoned}/cordon`)).status, 200);
    await until(async () => (await api('GET', `/v1/apps/${name}/machines/${failing}`)).body.checks[0]?.status === 'critical', 'the failing check is critical', 30_000);
    await until(async () => (await api('GET', `/v1/apps/${name}/machines/${healthy}`)).body.checks[0]?.status === 'passing', 'the good check passes', 30_000);
    const answers = new Set<string>();
    for (let i = 0; i < 10; i++) answers.add((await get(name)).body);
    assert.deepEqual([...answers], [await bootOf(name, healthy)]);
    await destroyAll(name, [cordoned, healthy, failing]);
  });

  it('wakes a second machine for a burst beyond soft_limit', async () => {
    const name = await app('bursty');
    const config = { services: [service({ concurrency: { type: 'requests', soft_limit: 1 } })] };
    const first = await machine(name, config);
    const second = await machine(name, config);
    assert.equal((await api('POST', `/v1/apps/${name}/machines/${second}/stop`)).status, 200);
    assert.equal((await api('GET', `/v1/apps/${name}/machines/${second}/wait?state=stopped&timeout=60`)).status, 200);
    const one = get(name, '/cgi-bin/slow');
    await sleep(500); // the first request is under way on the first machine
    const two = await get(name, '/cgi-bin/slow');
    assert.equal(two.status, 200, two.body);
    assert.equal(await state(name, second), 'started', 'the burst woke the stopped machine');
    assert.equal(two.body, await bootOf(name, second), 'and the second request was served by it');
    assert.equal((await one).body, await bootOf(name, first));
    await destroyAll(name, [first, second]);
  });

  it('carries raw TCP on the app\'s host port and HTTPS on the TLS listener; a TCP connection wakes a suspended machine', async () => {
    const name = await app('wire');
    const id = await machine(name, { services: [
      { protocol: 'tcp', internal_port: 8080, autostart: true, autostop: 'suspend', ports: [{ port: 80, handlers: ['http'], force_https: true }, { port: 443, handlers: ['tls', 'http'] }] },
      { protocol: 'tcp', internal_port: 7000, autostart: true, autostop: 'suspend', ports: [{ port: 7000 }] },
    ] });
    const boot = await bootOf(name, id);
    const ports = (await api('GET', `/hangar/v1/apps/${name}/ports`)).body.ports as Array<{ port: number; listen: string }>;
    const [host, port] = (ports.find((p) => p.port === 7000) as { listen: string }).listen.split(':') as [string, string];
    const line = (text: string) => exchange(connect(Number(port), host), `${text}\n`);
    assert.equal(await line('ping'), `${boot.trim()} ping\n`);

    const plain = await get(name);
    assert.equal(plain.status, 301, 'force_https');
    assert.match(String(plain.headers.location), new RegExp(`^https://${name}\\.hangar\\.test:\\d+/$`));
    const secure = await viaTls(server.proxyTlsUrl as string, `${name}.hangar.test`, '/', readFileSync(join(data, 'tls', 'ca.crt')));
    assert.deepEqual({ status: secure.status, body: secure.body }, { status: 200, body: boot }, 'verified against hangar\'s local authority');

    await until(async () => (await state(name, id)) === 'suspended', 'autosuspend', 60_000);
    assert.equal(await line('again'), `${boot.trim()} again\n`, 'the connection resumed the same boot');
    assert.equal((await lastStart(name, id)).resumed, true);
    await destroyAll(name, [id]);
  });
});
