/**
 * The private DNS on real microVMs, through `hangar serve --driver qemu`: a machine's
 * /etc/resolv.conf names fdaa::3, and busybox nslookup inside it gets its app's
 * started machines' addresses, a machine by id, its organization's apps, and a
 * refusal for another organization's app and for names outside .internal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const TOKEN = 'dns-token';

describe('private DNS on real machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-dns-'));
  const data = join(dir, 'data');
  const netns = `hgr-dns-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'dns/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'cat', 'httpd', 'nslookup']) }], {
      config: { Cmd: ['/bin/sh', '-c', 'exec httpd -f -p 8080 -h /'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/dns/app:1`;
    server = await startServerProcess(data, TOKEN, ['--driver', 'qemu', '--netns', netns]);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);

  it('answers a machine about its organization\'s apps, and refuses the rest', async () => {
    for (const [name, org] of [['web', 'personal'], ['db', 'personal'], ['theirs', 'other-org']]) {
      assert.equal((await api('POST', '/v1/apps', { name, org_slug: org })).status, 201);
    }
    const created = await api('POST', '/v1/apps/web/machines', { region: 'local', config: { image, restart: { policy: 'no' } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const machine = created.body as { id: string; private_ip: string };
    assert.equal((await api('GET', `/v1/apps/web/machines/${machine.id}/wait?state=started&timeout=60`)).status, 200);
    const run = async (command: string[]) => (await api('POST', `/v1/apps/web/machines/${machine.id}/exec`, { command, timeout: 20 })).body as
      { stdout: string; stderr: string; exit_code: number };
    const lookUp = async (...args: string[]) => {
      const result = await run(['nslookup', ...args]);
      return `${result.stdout}${result.stderr}`;
    };

    assert.equal((await run(['cat', '/etc/resolv.conf'])).stdout, 'nameserver fdaa::3\n');
    const own = await lookUp('-type=aaaa', 'web.internal');
    assert.ok(own.includes(machine.private_ip), own);
    const byId = await lookUp('-type=aaaa', `${machine.id}.vm.web.internal`);
    assert.ok(byId.includes(machine.private_ip), byId);
    const apps = await lookUp('-type=txt', '_apps.internal');
    assert.match(apps, /"db,web"/, apps);
    assert.match(await lookUp('-type=aaaa', 'theirs.internal'), /REFUSED/);
    assert.match(await lookUp('-type=aaaa', 'example.com'), /REFUSED/);
    assert.match(await lookUp('-type=aaaa', 'nosuch.vm.web.internal'), /NXDOMAIN/);

    assert.equal((await api('DELETE', `/v1/apps/web/machines/${machine.id}?force=true`)).status, 200);
  });
});
