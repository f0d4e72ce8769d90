/**
 * The E2B sandbox agent in a real microVM: a machine whose `init.exec` is
 * `/.hangar/envd` boots with hangar-envd copied into its root (the image is plain
 * busybox, with no bash and no /etc/passwd), and the real `e2b` SDK drives it at
 * the machine's private address: commands with streamed output and stdin, files
 * written and read, and a suspend and resume that keeps a process running.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Sandbox } from 'e2b';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, type Registry, startRegistry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const TOKEN = 'sandbox-agent-token';

describe('the sandbox agent on a real microVM, driven by the e2b SDK', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-sandbox-agent-'));
  const data = join(dir, 'data');
  const netns = `hgr-sbx-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let machine: { id: string; private_ip: string };
  let sandbox: Sandbox;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'sbx/base', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'echo', 'cat', 'sleep', 'tr', 'ls', 'mkdir']) }], { config: { Env: ['PATH=/bin'] } });
    server = await startServerProcess(data, 'sbx-token', ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await request(server, 'POST', '/v1/apps', { name: 'sbx', org_slug: 'personal' })).status, 201);
    const created = await request(server, 'POST', '/v1/apps/sbx/machines', {
      config: { image: `${registry.host}/sbx/base:1`, init: { exec: ['/.hangar/envd'] }, env: { HANGAR_ENVD_TOKEN: TOKEN, HANGAR_ENVD_ENVS: JSON.stringify({ SANDBOX_WIDE: 'yes' }) }, guest: { cpus: 1, memory_mb: 256 } },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    machine = created.body;
    assert.equal((await request(server, 'GET', `/v1/apps/sbx/machines/${machine.id}/wait?state=started&timeout=60`)).status, 200);
    const url = `http://[${machine.private_ip}]:49983`;
    for (let i = 0; ; i++) {
      if ((await fetch(`${url}/health`).then((reply) => reply.status, () => 0)) === 204) break;
      assert.ok(i < 600, 'the agent answers its health check');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    sandbox = await Sandbox.create({ debug: true, sandboxUrl: url, apiKey: 'e2b_0000000000000000000000000000000000000000', headers: { 'X-Access-Token': TOKEN } });
  });
  after(async () => {
    if (machine) await request(server, 'DELETE', `/v1/apps/sbx/machines/${machine.id}?force=true`).catch(() => undefined);
    await cleanUpRealServer(server, data, netns);
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a request without the access token', async () => {
    const reply = await fetch(`http://[${machine.private_ip}]:49983/process.Process/List`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(reply.status, 401);
  });

  it('runs commands through /bin/sh (the image has no bash), streaming output and taking stdin', async () => {
    const chunks: string[] = [];
    const result = await sandbox.commands.run('echo "$SANDBOX_WIDE"; sleep 0.3; echo done', { onStdout: (chunk) => { chunks.push(chunk); } });
    assert.deepEqual([result.exitCode, result.stdout], [0, 'yes\ndone\n']);
    assert.deepEqual(chunks, ['yes\n', 'done\n']);
    const upper = await sandbox.commands.run('tr a-z A-Z', { background: true, stdin: true });
    await sandbox.commands.sendStdin(upper.pid, 'shout');
    await sandbox.commands.closeStdin(upper.pid);
    assert.equal((await upper.wait()).stdout, 'SHOUT');
  });

  it('writes files and reads them back', async () => {
    await sandbox.files.write('/work/notes/a.txt', 'written in a microVM');
    assert.equal(await sandbox.files.read('/work/notes/a.txt'), 'written in a microVM');
    assert.deepEqual((await sandbox.files.list('/work/notes')).map((entry) => entry.name), ['a.txt']);
    assert.equal((await sandbox.commands.run('cat /work/notes/a.txt')).stdout, 'written in a microVM');
  });

  it('keeps a running process across a suspend and resume of the machine', async () => {
    const counter = await sandbox.commands.run('i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done', { background: true, timeoutMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await request(server, 'POST', `/v1/apps/sbx/machines/${machine.id}/suspend`)).status, 200);
    assert.equal((await request(server, 'GET', `/v1/apps/sbx/machines/${machine.id}/wait?state=suspended&timeout=60`)).status, 200);
    assert.equal((await request(server, 'POST', `/v1/apps/sbx/machines/${machine.id}/start`)).status, 200);
    assert.equal((await request(server, 'GET', `/v1/apps/sbx/machines/${machine.id}/wait?state=started&timeout=60`)).status, 200);
    assert.ok((await sandbox.commands.list()).some((info) => info.pid === counter.pid), 'the same process, still there');
    const before = Number((await sandbox.files.read('/tmp/count')).trim());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const later = Number((await sandbox.files.read('/tmp/count')).trim());
    assert.ok(later > before && before > 0, `still counting: ${before} then ${later}`);
    assert.equal(await sandbox.commands.kill(counter.pid), true);
  });
});
