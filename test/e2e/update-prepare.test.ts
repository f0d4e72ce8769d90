/**
 * An update prepares the new image while the old VM runs, on a real microVM: an
 * image that cannot be pulled is refused (422) and the machine runs on, the same
 * boot, the same version, with an `update` event saying why; a good one replaces it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APP = 'mkdir -p /www; echo $RELEASE > /www/index.html; exec httpd -f -p 8080 -h /www';

describe('update on a real machine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-update-'));
  const data = join(dir, 'data');
  const netns = `hgr-upd-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;

  before(async () => {
    registry = await startRegistry();
    for (const release of ['one', 'two']) {
      await pushImage(registry.host, 'upd/app', release, [{ compression: 'gzip', files: busyboxLayer(['sh', 'cat', 'echo', 'mkdir', 'httpd']) }], {
        config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin', `RELEASE=${release}`] },
      });
    }
    server = await startServerProcess(data, 'upd-token', ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await request(server, 'POST', '/v1/apps', { name: 'upd' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const machines = '/v1/apps/upd/machines';
  const guest = async (id: string) => (await api('POST', `${machines}/${id}/exec`, { command: ['sh', '-c', 'cat /proc/sys/kernel/random/boot_id; echo $RELEASE'] })).body.stdout as string;

  it('runs on when the new image cannot be pulled, and is replaced by one that can', async () => {
    const created = await api('POST', machines, { config: { image: `${registry.host}/upd/app:one` } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await api('GET', `${machines}/${id}/wait?state=started&timeout=60`)).status, 200);
    const before = await guest(id);

    const refused = await api('POST', `${machines}/${id}`, { config: { image: `${registry.host}/upd/app:missing` } });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.match(refused.body.error, /failed to update machine .*could not be prepared/);
    const shown = (await api('GET', `${machines}/${id}`)).body;
    assert.deepEqual([shown.state, shown.instance_id, shown.config.image], ['started', created.body.instance_id, `${registry.host}/upd/app:one`]);
    assert.deepEqual([shown.events[0].type, shown.events[0].status], ['update', 'started']);
    assert.match(String(shown.events[0].request.error), /\S/);
    assert.equal(await guest(id), before, 'the same VM runs on: same boot, same release');

    const updated = await api('POST', `${machines}/${id}`, { config: { image: `${registry.host}/upd/app:two` } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal((await api('GET', `${machines}/${id}/wait?state=started&version=${updated.body.instance_id}&timeout=60`)).status, 200);
    const after = (await guest(id)).split('\n');
    assert.notEqual(after[0], before.split('\n')[0], 'a new boot');
    assert.equal(after[1], 'two');
    assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);
  });
});
