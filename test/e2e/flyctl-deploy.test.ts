/**
 * `fly deploy --image` replayed call by call, as flyctl makes them
 * (test/helpers/flyctl/), against `hangar serve --driver qemu` with a real
 * image from a loopback registry: the machines it launches boot and serve the image,
 * the proxy routes the app (to https, as flyctl's force_https asks), and they carry
 * the release flyctl began; GraphQL then says the app is deployed
 * at that release. `fly secrets set` then restarts them in a new release, with the
 * secret.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { textWhenUp, until, viaProxy } from '../helpers/http.ts';
import { flyAppsCreate } from '../helpers/flyctl/apps.ts';
import { flyDeploy } from '../helpers/flyctl/deploy.ts';
import { flySecretsChange } from '../helpers/flyctl/secrets.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, type Registry, startRegistry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

describe('fly deploy --image, replayed on real machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-flyctl-'));
  const data = join(dir, 'data');
  const netns = `hgr-fly-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'fly/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd']) }], {
      config: { Cmd: ['/bin/sh', '-c', 'mkdir -p /www; echo "deployed by flyctl" > /www/index.html; exec httpd -f -p 8080 -h /www'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/fly/app:1`;
    server = await startServerProcess(data, 'fly-token', ['--driver', 'qemu', '--netns', netns, '--proxy-domain', 'hangar.test']);
  });
  after(async () => {
    for (const m of ((await request(server, 'GET', '/v1/apps/flown/machines').catch(() => ({ body: [] }))).body ?? []) as Array<{ id: string }>) {
      await request(server, 'DELETE', `/v1/apps/flown/machines/${m.id}?force=true`).catch(() => undefined);
    }
    await cleanUpRealServer(server, data, netns);
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, url: string, body?: unknown, headers?: Record<string, string>) => request(server, method, url, body, headers);

  it('launches machines that boot the image, are routed by the proxy and carry flyctl\'s release', async () => {
    await flyAppsCreate(call, 'flown');
    const { release, machines } = await flyDeploy(call, 'flown', image, 'local');
    assert.equal(machines.length, 2);
    for (const machine of machines) {
      const shown = (await call('GET', `/v1/apps/flown/machines/${machine.id}`)).body;
      assert.equal(shown.state, 'started');
      assert.equal(shown.config.metadata.fly_release_id, release.id);
    }
    for (const machine of machines) assert.equal((await textWhenUp(`http://[${machine.private_ip}]:8080/index.html`)).trim(), 'deployed by flyctl');
    // flyctl asks for force_https on port 80: the proxy sends plain requests to https.
    await until(async () => [301, 308].includes((await viaProxy(server.proxyUrl, 'flown.hangar.test', '/').catch(() => ({ status: 0 }))).status), 'the proxy routes the app (to https)', 60_000);
    const compact = await call('POST', '/graphql', { query: 'query ($appName: String!) { appcompact: app(name: $appName) { deployed status } }', variables: { appName: 'flown' } });
    assert.deepEqual(compact.body.data.appcompact, { deployed: true, status: 'deployed' });
    const current = await call('GET', '/api/v1/apps/flown/releases/current');
    assert.equal(current.body.id, release.id);
  });

  it('fly secrets set restarts every machine in a new release, booting with the secret and serving again', async () => {
    const changed = await flySecretsChange(call, 'flown', { GREETING: 'set-by-flyctl' });
    assert.equal(changed.release?.version, 2);
    const machines = (await call('GET', '/v1/apps/flown/machines')).body as Array<{ id: string; state: string; private_ip: string; config: { metadata: Record<string, string> } }>;
    assert.equal(machines.length, 2);
    for (const machine of machines) {
      assert.deepEqual([machine.state, machine.config.metadata.fly_release_version], ['started', '2']);
      const printed = await call('POST', `/v1/apps/flown/machines/${machine.id}/exec`, { command: ['sh', '-c', 'echo "$GREETING"'] });
      assert.equal(printed.body.stdout?.trim(), 'set-by-flyctl');
      assert.equal((await textWhenUp(`http://[${machine.private_ip}]:8080/index.html`)).trim(), 'deployed by flyctl');
    }
  });
});
