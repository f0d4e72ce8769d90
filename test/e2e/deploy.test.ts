/**
 * `hangar deploy` on real microVMs (`hangar serve --driver qemu --autostop-after
 * 2s`), as a user runs it: v1 deployed from a fly.toml with
 * `auto_stop_machines = "suspend"`; its machines suspended when idle and woken
 * through the proxy; a secret staged; v2 rolled out while a client sends steady
 * requests through the proxy, with no failed request; the secret in the guest and
 * nowhere else; a rollback to v1.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliWith } from '../helpers/cli-run.ts';
import { until, viaProxy } from '../helpers/http.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, type Registry, startRegistry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const TOKEN = 'deploy-e2e-token';
const CANARY = 'canary-d3pl0y-5ecret';
const APP = (version: string) => `mkdir -p /www; echo ${version} > /www/index.html; echo ok > /www/health; exec httpd -f -p 8080 -h /www`;

const flyToml = (image: string) => `app = "site"
primary_region = "somewhere-else"

[build]
image = "${image}"

[env]
GREETING = "hello"

[http_service]
internal_port = 8080
auto_stop_machines = "suspend"
auto_start_machines = true
min_machines_running = 0

[[http_service.checks]]
interval = "1s"
timeout = "2s"
path = "/health"

[deploy]
strategy = "rolling"
wait_timeout = "3m"
`;

interface Machine { id: string; state: string; config: { image: string; env: Record<string, string> } }

describe('hangar deploy on real machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-deploy-e2e-'));
  const data = join(dir, 'data');
  const netns = `hgr-dep-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let images: [string, string];
  let cli: ReturnType<typeof cliWith>;
  const path = join(dir, 'fly.toml');

  before(async () => {
    registry = await startRegistry();
    for (const version of ['v1', 'v2']) {
      await pushImage(registry.host, 'deploy/site', version, [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd']) }], {
        config: { Cmd: ['/bin/sh', '-c', APP(version)], Env: ['PATH=/bin'] },
      });
    }
    images = [`${registry.host}/deploy/site:v1`, `${registry.host}/deploy/site:v2`];
    writeFileSync(path, flyToml(images[0]));
    server = await startServerProcess(data, TOKEN, ['--driver', 'qemu', '--netns', netns, '--autostop-after', '2s', '--proxy-domain', 'hangar.test']);
    cli = cliWith({ HANGAR_API_URL: server.url, HANGAR_API_TOKEN: TOKEN });
  });

  after(async () => {
    if (server) {
      for (const m of (await request(server, 'GET', '/v1/apps/site/machines').catch(() => ({ body: [] }))).body as Machine[] ?? []) {
        await request(server, 'DELETE', `/v1/apps/site/machines/${m.id}?force=true`).catch(() => undefined);
      }
    }
    await cleanUpRealServer(server, data, netns);
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, url: string, body?: unknown) => request(server, method, url, body);
  const machines = async () => (await api('GET', '/v1/apps/site/machines')).body as Machine[];
  const get = () => viaProxy(server.proxyUrl, 'site.hangar.test', '/', 60_000);
  const deploy = async (...argv: string[]) => {
    const run = await cli('deploy', '-c', path, ...argv);
    assert.equal(run.code, 0, `${run.out}\n${run.err}`);
    return run.out;
  };

  it('deploys v1 from the fly.toml; idle machines suspend and a request through the proxy wakes one', async () => {
    const out = await deploy();
    assert.match(out, /primary_region somewhere-else is not a region of this hangar/);
    const made = await machines();
    assert.equal(made.length, 2);
    // The first machine made may already be suspending while the deploy waits for the second: autostop is 2 s here.
    assert.ok(made.every((m) => ['started', 'suspending', 'suspended'].includes(m.state) && m.config.image === images[0]), JSON.stringify(made.map((m) => m.state)));
    assert.deepEqual((await get()).body.trim(), 'v1');
    await until(async () => (await machines()).every((m) => m.state === 'suspended'), 'both machines suspend when idle', 120_000);
    const woken = await get();
    assert.equal(woken.status, 200);
    assert.equal(woken.body.trim(), 'v1');
    assert.ok((await machines()).some((m) => m.state === 'started'));
  });

  it('rolls out v2 with a staged secret while a client sends steady requests, none of which fails', async () => {
    const staged = await cli('secrets', 'set', `SECRET_WORD=${CANARY}`, '--stage', '-a', 'site');
    assert.equal(staged.code, 0, staged.err);
    const answers: string[] = [];
    const failures: string[] = [];
    let sending = true;
    const load = (async () => {
      while (sending) {
        const reply = await get().catch((error: Error) => ({ status: 0, body: error.message }));
        if (reply.status === 200 && /^v[12]$/.test(reply.body.trim())) answers.push(reply.body.trim());
        else failures.push(`${reply.status} ${reply.body}`);
        await sleep(50);
      }
    })();
    let duringDeploy = 0;
    try {
      const out = await deploy('--image', images[1]);
      assert.match(out, /Release v2 of site/);
      duringDeploy = answers.length + failures.length;
      // A few more after the deploy, so the last answer comes from the new release.
      await until(async () => answers.length + failures.length >= duringDeploy + 5, 'requests after the deploy', 30_000);
    } finally {
      sending = false;
      await load;
    }
    assert.deepEqual(failures, [], 'no request failed during the rolling deploy');
    assert.ok(duringDeploy >= 5, `steady requests were sent while the deploy ran (${duringDeploy})`);
    assert.equal(answers.at(-1), 'v2');
    assert.ok((await machines()).every((m) => m.config.image === images[1]));
  });

  it('gives the secret to the guest, and to no API answer or log line', async () => {
    // An exec is no traffic: autostop (2 s) may suspend the machine under it, and then a request wakes one for another try.
    let running: Machine | undefined;
    let printed: Awaited<ReturnType<typeof api>> | undefined;
    for (let attempt = 0; attempt < 5 && printed?.body.stdout !== `${CANARY} hello\n`; attempt++) {
      if (attempt > 0) await get();
      running = (await machines()).find((m) => m.state === 'started');
      if (running) printed = await api('POST', `/v1/apps/site/machines/${running.id}/exec`, { command: ['sh', '-c', 'echo "$SECRET_WORD $GREETING"'] });
    }
    assert.ok(running && printed);
    assert.equal(printed.body.stdout, `${CANARY} hello\n`, JSON.stringify(printed.body));
    for (const url of ['/v1/apps/site/machines', `/v1/apps/site/machines/${running.id}`, `/v1/apps/site/machines/${running.id}/events`, '/v1/apps/site/secrets', '/hangar/v1/apps/site/releases', '/hangar/v1/apps/site/releases/2']) {
      assert.ok(!JSON.stringify((await api('GET', url)).body).includes(CANARY), url);
    }
    assert.ok(!server.output().includes(CANARY), 'the server\'s log');
  });

  it('rolls back to v1', async () => {
    const back = await cli('deploy', '--rollback', '-a', 'site');
    assert.equal(back.code, 0, `${back.out}\n${back.err}`);
    assert.match(back.out, /Rolling back site to release v1/);
    assert.ok((await machines()).every((m) => m.config.image === images[0]));
    assert.equal((await get()).body.trim(), 'v1');
    const releases = (await api('GET', '/hangar/v1/apps/site/releases')).body.releases as Array<{ version: number; status: string; description: string }>;
    assert.deepEqual(releases.map((r) => `v${r.version} ${r.status} ${r.description}`), ['v3 complete rollback to v1', 'v2 complete ', 'v1 complete ']);
  });
});
