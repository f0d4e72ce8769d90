/**
 * `/.fly/api` inside a real machine, for a client that half-closes: it sends its
 * request, shuts its write side (shutdown(SHUT_WR), as `nc -N` does) and reads
 * until the connection ends. It gets the whole answer, and then the end. And a
 * machine cannot point its own image at the host: not at the host's disk, not at
 * the registry the test runs on the host's loopback.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';

describe('/.fly/api and a client that half-closes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-flyapi-'));
  const data = join(dir, 'data');
  const netns = `hgr-fapi-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    const client = join(dir, 'half-close');
    execFileSync('gcc', ['-static', '-Os', '-Wall', '-Werror', '-o', client, join(ROOT, 'test/helpers/half-close.c')]);
    registry = await startRegistry();
    await pushImage(registry.host, 'fapi/app', '1', [{
      compression: 'gzip',
      files: busyboxLayer(['sh', 'cat', 'echo', 'mkdir', 'httpd', 'timeout'], { '/bin/half-close': { mode: 0o755, content: readFileSync(client) } }),
    }], { config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] } });
    image = `${registry.host}/fapi/app:1`;
    server = await startServerProcess(data, 'fapi-token', ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await request(server, 'POST', '/v1/apps', { name: 'fapi' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers, and then ends the connection', async () => {
    const created = await request(server, 'POST', '/v1/apps/fapi/machines', { config: { image, restart: { policy: 'no' } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await request(server, 'GET', `/v1/apps/fapi/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    // `timeout` turns a connection that never ends into a failure, not a hung test.
    const reply = await request(server, 'POST', `/v1/apps/fapi/machines/${id}/exec`, {
      command: ['sh', '-c', `timeout 10 half-close GET /v1/apps/fapi/machines/${id}; echo " exit=$?"`],
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const out = String(reply.body.stdout);
    assert.match(out, /^HTTP\/1\.1 200 /, JSON.stringify(reply.body));
    assert.match(out, / exit=0$/m, 'the connection ended after the answer');
    const body = out.slice(out.indexOf('\r\n\r\n') + 4, out.lastIndexOf(' exit='));
    assert.equal(JSON.parse(body).id, id);
    assert.equal((await request(server, 'DELETE', `/v1/apps/fapi/machines/${id}?force=true`)).status, 200);
  });

  it('refuses a machine that points its own image at the host\'s disk or a host-local registry', async () => {
    const created = await request(server, 'POST', '/v1/apps/fapi/machines', { config: { image, restart: { policy: 'no' } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await request(server, 'GET', `/v1/apps/fapi/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    for (const target of ['oci:/etc', 'docker-archive:/etc/passwd', `${registry.host}/fapi/other:1`]) {
      const body = JSON.stringify({ config: { image: target } });
      const reply = await request(server, 'POST', `/v1/apps/fapi/machines/${id}/exec`, {
        command: ['sh', '-c', `BODY='${body}' timeout 10 half-close POST /v1/apps/fapi/machines/${id}`],
      });
      assert.match(String(reply.body.stdout), /^HTTP\/1\.1 403 /, `${target}: ${JSON.stringify(reply.body)}`);
    }
    const shown = await request(server, 'GET', `/v1/apps/fapi/machines/${id}`);
    assert.equal(shown.body.instance_id, created.body.instance_id, 'the machine is unchanged');
    assert.equal(shown.body.state, 'started');
    assert.equal((await request(server, 'DELETE', `/v1/apps/fapi/machines/${id}?force=true`)).status, 200);
  });
});
