/**
 * Each hangar owns its network: a second hangar on another namespace, set up and
 * torn down the way the tests do it, leaves the first one's machines reachable.
 * Only loopback and the namespaces these servers create see any traffic.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { textWhenUp } from '../helpers/http.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

describe('network ownership', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-own-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const a = { data: join(dir, 'a'), netns: `hgr-owna-${suffix}` };
  const b = { data: join(dir, 'b'), netns: `hgr-ownb-${suffix}` };
  let registry: Registry;
  let image: string;
  let serverA: ServerProcess | undefined;
  let serverB: ServerProcess | undefined;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'own/web', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'httpd']) }], {
      config: { Cmd: ['/bin/sh', '-c', 'echo "hello from $FLY_MACHINE_ID" > /index.html && exec httpd -f -p 8080 -h /'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/own/web:1`;
  });

  after(async () => {
    await cleanUpRealServer(serverB, b.data, b.netns);
    await cleanUpRealServer(serverA, a.data, a.netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a hangar\'s machines reachable while another hangar comes and goes', async () => {
    serverA = await startServerProcess(a.data, 'own-a', ['--driver', 'qemu', '--netns', a.netns]);
    const api = (method: string, path: string, body?: unknown) => request(serverA as ServerProcess, method, path, body);
    assert.equal((await api('POST', '/v1/apps', { name: 'web' })).status, 201);
    const created = await api('POST', '/v1/apps/web/machines', { config: { image, restart: { policy: 'no' } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await api('GET', `/v1/apps/web/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    const ipv6 = created.body.private_ip as string;
    const ipv4 = ((await api('POST', `/v1/apps/web/machines/${id}/exec`, { command: ['sh', '-c', 'echo $HANGAR_PRIVATE_IPV4'] })).body.stdout as string).trim();
    const hello = `hello from ${id}\n`;
    const reach = async () => [await textWhenUp(`http://[${ipv6}]:8080/index.html`, { attempts: 20 }), await textWhenUp(`http://${ipv4}:8080/index.html`, { attempts: 20 })];
    assert.deepEqual(await reach(), [hello, hello], 'A\'s machine answers on both addresses');

    serverB = await startServerProcess(b.data, 'own-b', ['--driver', 'qemu', '--netns', b.netns]);
    assert.deepEqual(await reach(), [hello, hello], 'while B runs');
    await cleanUpRealServer(serverB, b.data, b.netns);
    serverB = undefined;
    assert.deepEqual(await reach(), [hello, hello], 'after B is gone');

    assert.equal((await api('DELETE', `/v1/apps/web/machines/${id}?force=true`)).status, 200);
  });
});
