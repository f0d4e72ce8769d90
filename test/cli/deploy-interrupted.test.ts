/**
 * A deploy interrupted by a `kill -9`, of the CLI and of the server (each a process
 * of its own, `--driver fake`): the app keeps serving, nothing is left half
 * switched, and the next deploy ends the dead one's release `interrupted` and
 * completes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { until } from '../helpers/http.ts';
import { HANGAR, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const TOKEN = 'deploy-kill-token';
const FLY_TOML = `app = "steady"

[build]
image = "registry.test/web:1"

[http_service]
internal_port = 8080
auto_stop_machines = "off"

[deploy]
max_unavailable = 1
`;

interface Running { child: ChildProcess; output: () => string; exited: Promise<number | null> }

function deployProcess(server: ServerProcess, ...argv: string[]): Running {
  const child = spawn(HANGAR, ['deploy', ...argv], { env: { ...process.env, HANGAR_API_URL: server.url, HANGAR_API_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk) => { output += chunk; });
  child.stderr?.on('data', (chunk) => { output += chunk; });
  return { child, output: () => output, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

describe('a deploy interrupted by kill -9', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-deploy-kill-'));
  const path = join(dir, 'fly.toml');
  writeFileSync(path, FLY_TOML);
  let server: ServerProcess;
  after(async () => {
    await server?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (data: string) => {
    // The fake driver's own timing: an update takes about half a second, so a kill lands in the middle of a deploy.
    server = await startServerProcess(data, TOKEN, ['--driver', 'fake']);
  };
  const api = (method: string, url: string, body?: unknown) => request(server, method, url, body);
  const machines = async () => ((await api('GET', '/v1/apps/steady/machines')).body as Array<{ id: string; state: string; cordoned: boolean; config: { image: string } }>);
  const releases = async () => ((await api('GET', '/hangar/v1/apps/steady/releases')).body.releases as Array<{ version: number; status: string }>).map((r) => `v${r.version} ${r.status}`);
  const deployed = async (...argv: string[]) => {
    const run = deployProcess(server, '-c', path, ...argv);
    assert.equal(await run.exited, 0, run.output());
  };
  /** The dead deploy's leases lapse by themselves; `hangar machine leases clear` is the way not to wait. */
  const clearLeases = async () => {
    const cli = (...argv: string[]) => new Promise<number | null>((resolve) => spawn(HANGAR, argv, { env: { ...process.env, HANGAR_API_URL: server.url, HANGAR_API_TOKEN: TOKEN }, stdio: 'ignore' }).once('exit', resolve));
    for (const m of await machines()) {
      if ((await api('GET', `/v1/apps/steady/machines/${m.id}/lease`)).status === 200) assert.equal(await cli('machine', 'leases', 'clear', '-a', 'steady', m.id), 0);
    }
  };
  const killedDuring = async (what: () => Promise<void>, ...argv: string[]) => {
    const run = deployProcess(server, '-c', path, ...argv);
    await until(async () => /Updating machine/.test(run.output()), 'the deploy updates a machine', 30_000);
    await what();
    return run;
  };

  it('keeps the app serving when the CLI dies, and the next deploy finishes the job', async () => {
    await start(join(dir, 'cli'));
    await deployed();
    const run = await killedDuring(async () => { /* the CLI itself */ }, '--image', 'registry.test/web:2');
    run.child.kill('SIGKILL');
    await run.exited;
    // The update in flight ends on the server: every machine runs, most of them taking traffic.
    await until(async () => (await machines()).every((m) => m.state === 'started'), 'every machine runs', 30_000);
    assert.ok((await machines()).some((m) => !m.cordoned), 'the app serves');
    await clearLeases();
    await deployed('--image', 'registry.test/web:3');
    assert.deepEqual(await releases(), ['v3 complete', 'v2 interrupted', 'v1 complete']);
    assert.ok((await machines()).every((m) => m.config.image === 'registry.test/web:3' && m.state === 'started' && !m.cordoned));
    await server.stop();
  });

  it('keeps the app serving when the server dies, and the next deploy finishes the job', async () => {
    const data = join(dir, 'server');
    await start(data);
    await deployed();
    const run = await killedDuring(() => server.kill(), '--image', 'registry.test/web:2');
    assert.equal(await run.exited, 1, 'the CLI says it lost the server');
    assert.match(run.output(), /cannot reach hangar/);
    await start(data);
    await until(async () => (await machines()).every((m) => m.state === 'started'), 'every machine runs again', 30_000);
    await clearLeases();
    await deployed('--image', 'registry.test/web:3');
    assert.deepEqual(await releases(), ['v3 complete', 'v2 interrupted', 'v1 complete']);
    assert.ok((await machines()).every((m) => m.config.image === 'registry.test/web:3' && m.state === 'started' && !m.cordoned));
  });

  it('undoes a deploy stopped with Ctrl-C, and ends its release failed', async () => {
    await start(join(dir, 'sigint'));
    await deployed();
    const run = await killedDuring(async () => { /* below */ }, '--image', 'registry.test/web:2');
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 1, run.output());
    assert.match(run.output(), /Interrupted: undoing this deploy's changes/);
    assert.match(run.output(), /the deploy was interrupted/);
    assert.ok((await machines()).every((m) => m.config.image === 'registry.test/web:1' && m.state === 'started' && !m.cordoned), JSON.stringify(await machines()));
    assert.deepEqual(await releases(), ['v2 failed', 'v1 complete']);
    assert.ok((await Promise.all((await machines()).map((m) => api('GET', `/v1/apps/steady/machines/${m.id}/lease`)))).every((r) => r.status === 404), 'its leases are given back');
    await server.stop();
  });
});
