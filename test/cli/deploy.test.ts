/**
 * `hangar deploy` on the fake driver, against a hangar on loopback whose proxy
 * checks each machine against a local server standing in for its app: releases
 * sick by the test's choice fail their checks. Every strategy, failures mid-way
 * (a check failing, a machine failing to start, a release command failing, a
 * lease held), and what a deploy leaves behind: the app serving, as it was.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Cli, hangarForCli } from '../helpers/cli-run.ts';
import type { TestHangar } from '../helpers/hangar.ts';

interface Machine { id: string; state: string; region: string; cordoned: boolean; config: { image: string; env: Record<string, string>; metadata: Record<string, string>; mounts?: Array<{ volume: string; path: string }> } }

/** Releases (app/version) whose machines fail their health checks. */
const sick = new Set<string>();

function flyToml(app: string, extra = ''): string {
  return `app = "${app}"
primary_region = "local"

[build]
image = "registry.test/web:1"

[env]
GREETING = "hi"

[http_service]
internal_port = 8080
auto_stop_machines = "off"

[[http_service.checks]]
interval = "1s"
timeout = "1s"
path = "/health"
${extra}`;
}

describe('hangar deploy', () => {
  let t: TestHangar;
  let cli: Cli;
  let dir: string;
  let server: Server;
  const servers: Server[] = [];

  before(async () => {
    server = createServer((req, res) => res.writeHead(200).end('ok'));
    const sickServer = createServer((req, res) => res.writeHead(500).end('sick'));
    for (const each of [server, sickServer]) {
      await new Promise<void>((resolve) => each.listen(0, '127.0.0.1', resolve));
      servers.push(each);
    }
    const port = (each: Server) => (each.address() as AddressInfo).port;
    ({ t, cli } = await hangarForCli({
      delays: { bootMs: 20, stopMs: 10 },
      proxy: { domain: 'test', idleMs: 60_000, upstreams: (machine) => ({ host: '127.0.0.1', port: port(sick.has(`${machine.appName}/${machine.config.metadata?.fly_release_version}`) ? sickServer : server) }) },
    }));
    dir = mkdtempSync(join(tmpdir(), 'hangar-deploy-'));
  });
  after(async () => {
    await t.close();
    for (const each of servers) each.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const machines = async (app: string): Promise<Machine[]> => ((await t.call('GET', `/v1/apps/${app}/machines`)).body as Machine[])
    .filter((m) => m.state !== 'destroying' && m.state !== 'destroyed').sort((a, b) => (a.id < b.id ? -1 : 1));
  const releases = async (app: string) => (await t.call('GET', `/hangar/v1/apps/${app}/releases`)).body.releases as Array<{ version: number; status: string; reason: string; description: string; image: string; strategy: string }>;
  const images = async (app: string) => (await machines(app)).map((m) => `${m.config.image} ${m.state}`);
  async function deployed(app: string, ...argv: string[]) {
    const run = await cli('deploy', ...argv);
    assert.equal(run.code, 0, `${run.out}\n${run.err}`);
    return run;
  }

  it('makes the app and its machines on a first deploy, with what flyctl gives them, as release v1', async () => {
    const run = await deployed('first', '-c', write('first.toml', flyToml('first')));
    assert.match(run.out, /Made app first/);
    assert.match(run.out, /Release v1 of first: registry.test\/web:1 \(rolling\)/);
    const made = await machines('first');
    assert.equal(made.length, 2, 'a group that serves traffic gets two machines');
    for (const m of made) {
      assert.equal(m.state, 'started');
      assert.equal(m.region, 'local');
      assert.deepEqual(m.config.env, { GREETING: 'hi', FLY_PROCESS_GROUP: 'app', PRIMARY_REGION: 'local' });
      assert.equal(m.config.metadata.fly_process_group, 'app');
      assert.equal(m.config.metadata.fly_platform_version, 'v2');
      assert.equal(m.config.metadata.fly_release_version, '1');
    }
    assert.deepEqual((await releases('first')).map((r) => `v${r.version} ${r.status}`), ['v1 complete']);
    const listed = await cli('releases', '-a', 'first');
    assert.match(listed.out, /v1\s+complete\s+rolling\s+registry.test\/web:1/);
    assert.match((await cli('apps', 'list')).out, /first\s+personal\s+deployed\s+2 \(2 started\)/);
  });

  it('rolls a new image over the machines one batch at a time, keeping their ids, and leaves machines it did not make alone', async () => {
    const path = write('roll.toml', flyToml('roll', '[deploy]\nmax_unavailable = 1\n'));
    await deployed('roll', '-c', path);
    const foreign = await t.machine('roll', { config: { image: 'registry.test/other:1' } });
    const ids = (await machines('roll')).map((m) => m.id);
    const run = await deployed('roll', '-c', path, '--image', 'registry.test/web:2');
    assert.match(run.out, /left as it is/);
    assert.deepEqual((await machines('roll')).map((m) => m.id), ids, 'updated in place');
    assert.deepEqual((await images('roll')).sort(), ['registry.test/other:1 started', 'registry.test/web:2 started', 'registry.test/web:2 started']);
    assert.ok((await machines('roll')).every((m) => !m.cordoned), 'every machine takes traffic again');
    // One batch at a time: each machine is good before the next is updated.
    const order = [...run.out.matchAll(/(Updating machine|Machine) (\w+)/g)].map((match) => match[1]);
    assert.deepEqual(order, ['Updating machine', 'Machine', 'Updating machine', 'Machine']);
    assert.equal((await machines('roll')).find((m) => m.id === foreign.id)?.config.metadata?.fly_release_version, undefined);
  });

  it('updates a stopped machine without starting it', async () => {
    const path = write('stopped.toml', flyToml('stopped'));
    await deployed('stopped', '-c', path);
    const [resting] = await machines('stopped');
    assert.equal((await t.call('POST', `/v1/apps/stopped/machines/${resting?.id}/stop`)).status, 200);
    await t.waitFor('stopped', resting?.id as string, 'stopped');
    const run = await deployed('stopped', '-c', path, '--image', 'registry.test/web:2');
    assert.match(run.out, new RegExp(`Updating machine ${resting?.id} \\[app\\] \\(stopped: it stays so\\)`));
    assert.deepEqual((await machines('stopped')).map((m) => `${m.id === resting?.id ? 'rested' : 'other'} ${m.config.image} ${m.state} ${m.cordoned}`).sort(),
      ['other registry.test/web:2 started false', 'rested registry.test/web:2 stopped false']);
  });

  it('stops a rolling deploy whose machine fails its checks, puts back what it changed, and ends the release failed', async () => {
    const path = write('sick.toml', flyToml('sick', '[deploy]\nmax_unavailable = 1\nwait_timeout = "3s"\n'));
    await deployed('sick', '-c', path);
    const before = await machines('sick');
    sick.add('sick/2');
    const run = await cli('deploy', '-c', path, '--image', 'registry.test/web:2');
    assert.equal(run.code, 1);
    assert.match(run.err, /did not pass its health checks within the wait timeout: servicecheck-00-http-8080 is critical/);
    assert.match(run.out, /Putting machine \w+ back as it was/);
    const after = await machines('sick');
    assert.deepEqual(after.map((m) => `${m.id} ${m.config.image} ${m.state} ${m.cordoned}`), before.map((m) => `${m.id} registry.test/web:1 started false`), 'the app is as it was, serving');
    const [failed] = await releases('sick');
    assert.equal(failed?.status, 'failed');
    assert.match(failed?.reason ?? '', /health checks/);
  });

  it('stops when a machine fails to start, and puts it back', async () => {
    const path = write('crash.toml', flyToml('crash', '[deploy]\nwait_timeout = "5s"\n'));
    await deployed('crash', '-c', path);
    t.driver.failNext('launch', 'the new image does not boot');
    const run = await cli('deploy', '-c', path, '--image', 'registry.test/web:2');
    assert.equal(run.code, 1, run.out);
    assert.deepEqual(await images('crash'), ['registry.test/web:1 started', 'registry.test/web:1 started']);
    assert.equal((await releases('crash'))[0]?.status, 'failed');
  });

  it('refuses a second deploy while another holds a machine\'s lease, changing nothing and beginning no release', async () => {
    const path = write('leased.toml', flyToml('leased'));
    await deployed('leased', '-c', path);
    const [held] = await machines('leased');
    const lease = await t.call('POST', `/v1/apps/leased/machines/${held?.id}/lease`, { description: 'another deploy' });
    assert.equal(lease.status, 201);
    const run = await cli('deploy', '-c', path, '--image', 'registry.test/web:2');
    assert.equal(run.code, 1);
    assert.match(run.err, /another deploy \(or another change\) holds a lease on machine/);
    assert.deepEqual(await images('leased'), ['registry.test/web:1 started', 'registry.test/web:1 started']);
    assert.equal((await releases('leased')).length, 1);
    for (const m of await machines('leased')) {
      const shown = await t.call('GET', `/v1/apps/leased/machines/${m.id}/lease`);
      assert.equal(shown.status === 200 ? shown.body.data.description : 'none', m.id === held?.id ? 'another deploy' : 'none', 'the leases it took are given back');
    }
  });

  it('lets one of two deploys of a new app run, and refuses the other: no lease stands between them, the running release does', async () => {
    const path = write('twice.toml', flyToml('twice'));
    const runs = await Promise.all([cli('deploy', '-c', path), cli('deploy', '-c', path)]);
    assert.deepEqual(runs.map((run) => run.code).sort(), [0, 1], runs.map((run) => run.err).join('\n'));
    assert.match(runs.find((run) => run.code === 1)?.err ?? '', /is being deployed: wait for its deploy to end/);
    assert.equal((await machines('twice')).length, 2);
    assert.deepEqual((await releases('twice')).map((r) => `v${r.version} ${r.status}`), ['v1 complete']);
  });

  it('deploys immediate, canary and bluegreen, each ending with the app on the new image', async () => {
    const path = write('ways.toml', flyToml('ways'));
    await deployed('ways', '-c', path);
    const first = (await machines('ways')).map((m) => m.id);
    await deployed('ways', '-c', path, '--image', 'registry.test/web:2', '--strategy', 'immediate');
    assert.deepEqual(await images('ways'), ['registry.test/web:2 started', 'registry.test/web:2 started']);
    const canary = await deployed('ways', '-c', path, '--image', 'registry.test/web:3', '--strategy', 'canary');
    assert.match(canary.out, /Canary \w+ was good, and is destroyed/);
    assert.deepEqual((await machines('ways')).map((m) => m.id), first, 'canary updates the machines in place once its canary is good');
    assert.deepEqual(await images('ways'), ['registry.test/web:3 started', 'registry.test/web:3 started']);
    await deployed('ways', '-c', path, '--image', 'registry.test/web:4', '--strategy', 'bluegreen');
    const green = await machines('ways');
    assert.equal(green.length, 2);
    assert.ok(green.every((m) => !first.includes(m.id) && !m.cordoned), 'bluegreen replaces every machine with a green one that takes traffic');
    assert.deepEqual(await images('ways'), ['registry.test/web:4 started', 'registry.test/web:4 started']);
    assert.deepEqual((await releases('ways')).map((r) => `${r.strategy} ${r.status}`), ['bluegreen complete', 'canary complete', 'immediate complete', 'rolling complete']);
  });

  it('leaves blue machines serving when a green one fails its checks, and a canary\'s failure changes nothing', async () => {
    const path = write('bg.toml', flyToml('bg', '[deploy]\nwait_timeout = "3s"\n'));
    await deployed('bg', '-c', path);
    const blue = (await machines('bg')).map((m) => m.id);
    sick.add('bg/2');
    const run = await cli('deploy', '-c', path, '--image', 'registry.test/web:2', '--strategy', 'bluegreen');
    assert.equal(run.code, 1);
    assert.deepEqual((await machines('bg')).map((m) => `${m.id} ${m.config.image} ${m.state} ${m.cordoned}`), blue.map((id) => `${id} registry.test/web:1 started false`));
    sick.add('bg/3');
    assert.equal((await cli('deploy', '-c', path, '--image', 'registry.test/web:3', '--strategy', 'canary')).code, 1);
    assert.deepEqual((await machines('bg')).map((m) => `${m.id} ${m.config.image}`), blue.map((id) => `${id} registry.test/web:1`));
  });

  it('runs the release command first, and stops before any machine changes when it fails', async () => {
    const path = write('migrate.toml', flyToml('migrate'));
    await deployed('migrate', '-c', path);
    const withCommand = write('migrate2.toml', flyToml('migrate', '[deploy]\nrelease_command = "bin/migrate --all"\n'));
    let exitCode = 3;
    const watcher = setInterval(async () => {
      for (const m of await machines('migrate').catch(() => [])) {
        if (m.config.metadata?.fly_process_group === 'fly_app_release_command' && m.state === 'started') {
          assert.equal(m.config.env.RELEASE_COMMAND, '1');
          try {
            t.driver.exitMachine(m.id, exitCode);
          } catch { /* exited already */ }
        }
      }
    }, 50);
    try {
      const failed = await cli('deploy', '-c', withCommand, '--image', 'registry.test/web:2');
      assert.equal(failed.code, 1);
      assert.match(failed.err, /the release command failed with exit code 3/);
      assert.deepEqual(await images('migrate'), ['registry.test/web:1 started', 'registry.test/web:1 started'], 'no machine changed, and the command\'s machine is gone');
      exitCode = 0;
      const run = await deployed('migrate', '-c', withCommand, '--image', 'registry.test/web:2');
      assert.match(run.out, /The release command succeeded/);
      assert.deepEqual(await images('migrate'), ['registry.test/web:2 started', 'registry.test/web:2 started']);
    } finally {
      clearInterval(watcher);
    }
  });

  it('rolls back to the release before the newest complete one, or to a version given', async () => {
    const path = write('back.toml', flyToml('back'));
    await deployed('back', '-c', path);
    await deployed('back', '-c', write('back2.toml', flyToml('back').replace('GREETING = "hi"', 'GREETING = "hello"')), '--image', 'registry.test/web:2');
    const run = await deployed('back', '--rollback', '-a', 'back');
    assert.match(run.out, /Rolling back back to release v1 \(registry.test\/web:1\)/);
    const now = await machines('back');
    assert.ok(now.every((m) => m.config.image === 'registry.test/web:1' && m.config.env.GREETING === 'hi' && m.config.metadata.fly_release_version === '3'));
    const [third] = await releases('back');
    assert.equal(third?.description, 'rollback to v1');
    await deployed('back', '--rollback', '2', '-a', 'back');
    assert.ok((await machines('back')).every((m) => m.config.env.GREETING === 'hello'));
    const refused = await cli('deploy', '--rollback', '9', '-a', 'back');
    assert.match(refused.err, /no release v9/);
  });

  it('gives each process group its machines, and destroys those of a group the fly.toml drops', async () => {
    const groups = (names: string[]) => flyToml('groups').replace('[http_service]', `[processes]\n${names.map((name) => `${name} = "/bin/${name}"`).join('\n')}\n\n[http_service]\nprocesses = ["web"]`);
    await deployed('groups', '-c', write('g1.toml', groups(['web', 'worker'])));
    const byGroup = async () => (await machines('groups')).map((m) => m.config.metadata.fly_process_group).sort();
    assert.deepEqual(await byGroup(), ['web', 'web', 'worker']);
    await deployed('groups', '-c', write('g2.toml', groups(['web'])));
    assert.deepEqual(await byGroup(), ['web', 'web']);
  });

  it('gives each machine of a group with [[mounts]] a volume of its own, and keeps it across deploys', async () => {
    const path = write('vol.toml', `${flyToml('vol')}\n[[mounts]]\nsource = "data"\ndestination = "/data"\n`);
    await deployed('vol', '-c', path);
    assert.equal((await machines('vol')).length, 1, 'a group that mounts a volume starts with one machine, as flyctl\'s');
    assert.equal((await cli('scale', 'count', '2', '-a', 'vol')).code, 0);
    const volumes = (await machines('vol')).map((m) => m.config.mounts?.[0]?.volume);
    assert.equal(new Set(volumes).size, 2);
    assert.ok(volumes.every((volume) => volume?.startsWith('vol_')));
    await deployed('vol', '-c', path, '--image', 'registry.test/web:2');
    assert.deepEqual((await machines('vol')).map((m) => m.config.mounts?.[0]?.volume), volumes);
    const refused = await cli('deploy', '-c', path, '--strategy', 'canary');
    assert.match(refused.err, /canary deployments are not supported with mounted volumes/);
  });

  it('scales a group\'s count and size, and shows the app by group and region, with its release and checks', async () => {
    const path = write('scaled.toml', `${flyToml('scaled')}\n[[vm]]\nsize = "shared-cpu-1x"\n`);
    await deployed('scaled', '-c', path);
    const more = await cli('scale', 'count', '3', '-a', 'scaled');
    assert.equal(more.code, 0, more.err);
    assert.equal((await machines('scaled')).length, 3);
    assert.ok((await machines('scaled')).every((m) => m.state === 'started' && m.config.metadata.fly_process_group === 'app' && m.config.image === 'registry.test/web:1'));
    const resized = await cli('scale', 'memory', '512', '-a', 'scaled');
    assert.equal(resized.code, 0, resized.err);
    assert.deepEqual((await machines('scaled')).map((m) => (m.config as unknown as { guest: { memory_mb: number } }).guest.memory_mb), [512, 512, 512]);
    const fewer = await cli('scale', 'count', '1', '-a', 'scaled');
    assert.equal(fewer.code, 0, fewer.err);
    assert.equal((await machines('scaled')).length, 1);
    assert.match((await cli('scale', 'vm', 'huge-9x', '-a', 'scaled')).err, /'huge-9x' is not a machine size/);
    assert.match((await cli('scale', 'count', '2', '-g', 'worker', '-a', 'scaled')).err, /no machines of process group worker/);
    const [only] = await machines('scaled');
    const status = await cli('status', '-a', 'scaled');
    assert.equal(status.code, 0, status.err);
    assert.match(status.out, /Release:\s+v1 complete \(rolling\), registry.test\/web:1/);
    assert.match(status.out, new RegExp(`app\\s+local\\s+${only?.id}\\s+started\\s+1 passing\\s+v1\\s+registry.test/web:1`));
    const logs = await cli('logs', '-a', 'scaled');
    assert.equal(logs.code, 0, logs.err);
    assert.ok(logs.out.split('\n').filter(Boolean).every((line) => line.startsWith(`${only?.id} local | `)), logs.out);
  });
});
