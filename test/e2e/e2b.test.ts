/**
 * E2B sandboxes on real microVMs: `hangar serve --driver qemu`, a template of a
 * plain busybox image (no bash, no /etc/passwd: the agent is hangar's, copied in
 * at boot), and the real `e2b` SDK with only its API URL, sandbox URL (hangar's
 * edge proxy) and key changed. Create, commands with streamed output and stdin,
 * files, pause and connect (the same boot, the process still running), fork, a
 * snapshot template (sandboxes forked from one base, each with its own token), a
 * sandbox's snapshot (created from after the sandbox is gone), metrics, list by metadata, a timeout that ends the sandbox, kill, and E2B's 502 after pause and
 * kill.
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

describe('E2B sandboxes on real microVMs, driven by the e2b SDK', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-e2b-'));
  const data = join(dir, 'data');
  const netns = `hgr-e2b-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let opts: { apiKey: string; apiUrl: string; sandboxUrl: string };
  let sandbox: Sandbox;
  const viaProxy = (id: string) => fetch(`${server.proxyUrl}/health`, { headers: { 'e2b-sandbox-id': id, 'e2b-sandbox-port': '49983' } });

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'sbx/base', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'echo', 'cat', 'sleep', 'tr', 'ls', 'mkdir']) }], { config: { Env: ['PATH=/bin'] } });
    server = await startServerProcess(data, 'e2b-token', ['--driver', 'qemu', '--netns', netns]);
    const key = await request(server, 'POST', '/hangar/v1/e2b/keys', { name: 'e2e' });
    assert.equal(key.status, 201);
    const template = await request(server, 'POST', '/hangar/v1/e2b/templates', { templateID: 'base', image: `${registry.host}/sbx/base:1`, cpuCount: 1, memoryMB: 256 });
    assert.equal(template.status, 201, JSON.stringify(template.body));
    opts = { apiKey: key.body.key, apiUrl: `${server.url}/e2b`, sandboxUrl: server.proxyUrl };
    sandbox = await Sandbox.create('base', { ...opts, envs: { SANDBOX_WIDE: 'yes' }, metadata: { suite: 'e2e' }, timeoutMs: 300_000 });
  });
  after(async () => {
    for (const m of ((await request(server, 'GET', '/v1/apps/e2b-personal/machines').catch(() => ({ body: [] }))).body ?? []) as Array<{ id: string }>) {
      await request(server, 'DELETE', `/v1/apps/e2b-personal/machines/${m.id}?force=true`).catch(() => undefined);
    }
    await cleanUpRealServer(server, data, netns);
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
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

  it('pauses (502 meanwhile) and connects again to the same boot, its process still running', async () => {
    const bootId = (await sandbox.commands.run('cat /proc/sys/kernel/random/boot_id')).stdout;
    const counter = await sandbox.commands.run('i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done', { background: true, timeoutMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await sandbox.pause(), true);
    assert.equal((await request(server, 'GET', `/v1/apps/e2b-personal/machines/${sandbox.sandboxId}`)).body.state, 'suspended');
    const paused = await viaProxy(sandbox.sandboxId);
    assert.deepEqual([paused.status, await paused.json()], [502, { sandboxId: sandbox.sandboxId, message: 'The sandbox was not found', code: 502 }]);
    const again = await Sandbox.connect(sandbox.sandboxId, opts);
    assert.equal((await again.commands.run('cat /proc/sys/kernel/random/boot_id')).stdout, bootId, 'resumed, not booted');
    assert.ok((await again.commands.list()).some((info) => info.pid === counter.pid), 'the same process, still there');
    const before = Number((await again.files.read('/tmp/count')).trim());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const later = Number((await again.files.read('/tmp/count')).trim());
    assert.ok(later > before && before > 0, `still counting: ${before} then ${later}`);
    assert.equal(await again.commands.kill(counter.pid), true);
  });

  it('forks the running sandbox into two that go on from its state', async () => {
    await sandbox.files.write('/tmp/before-fork', 'parent state');
    const children = await sandbox.fork({ count: 2, timeoutMs: 120_000 });
    assert.equal(children.length, 2);
    for (const child of children) {
      assert.ok(!(child instanceof Error), String(child));
      assert.equal((await child.commands.run('cat /tmp/before-fork')).stdout, 'parent state');
      assert.equal(await child.kill(), true);
    }
    assert.equal((await sandbox.commands.run('echo parent')).stdout, 'parent\n', 'the parent runs on');
  });

  it('forks sandboxes of a snapshot template from one booted base, each agent with its own token', async () => {
    const template = await request(server, 'POST', '/hangar/v1/e2b/templates', { templateID: 'warm', image: `${registry.host}/sbx/base:1`, cpuCount: 1, memoryMB: 256, snapshot: true });
    assert.equal(template.status, 201);
    const create = async (envVars: Record<string, string>) => {
      const reply = await fetch(`${opts.apiUrl}/v2/sandboxes`, { method: 'POST', headers: { 'x-api-key': opts.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ templateID: 'warm', envVars, timeout: 300 }) });
      assert.equal(reply.status, 201);
      return await reply.json() as { sandboxID: string; envdAccessToken: string };
    };
    const a = await create({ WHO: 'a' });
    const b = await create({ WHO: 'b' });
    assert.notEqual(a.envdAccessToken, b.envdAccessToken);
    for (const [made, who] of [[a, 'a'], [b, 'b']] as const) {
      const connected = await Sandbox.connect(made.sandboxID, opts);
      assert.equal((await connected.commands.run('echo "$WHO"')).stdout, `${who}\n`, 'its own variables, given after the fork');
    }
    const list = (id: string, token: string) => fetch(`${server.proxyUrl}/process.Process/List`, {
      method: 'POST', headers: { 'e2b-sandbox-id': id, 'e2b-sandbox-port': '49983', 'x-access-token': token, 'content-type': 'application/json' }, body: '{}',
    });
    assert.equal((await list(b.sandboxID, b.envdAccessToken)).status, 200);
    assert.equal((await list(b.sandboxID, a.envdAccessToken)).status, 401, 'one sandbox\'s token opens no other');
    const machines = async () => (await request(server, 'GET', '/v1/apps/e2b-personal/machines')).body as Array<{ id: string; state: string; config: { metadata: Record<string, string> } }>;
    const bases = (await machines()).filter((m) => m.config.metadata['e2b.base'] === 'warm' && m.state === 'started');
    assert.equal(bases.length, 1);
    // A spare: a fork of the base kept started and warmed, which the next create takes.
    let spare: { id: string } | undefined;
    for (let i = 0; i < 600 && !spare; i++) {
      spare = (await machines()).find((m) => m.config.metadata['e2b.spare'] === 'warm' && m.state === 'started');
      if (!spare) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(spare, 'a spare within 60 s');
    const c = await create({ WHO: 'c' });
    assert.equal(c.sandboxID, spare.id, 'the create took the spare');
    const connected = await Sandbox.connect(c.sandboxID, opts);
    assert.equal((await connected.commands.run('echo "$WHO"')).stdout, 'c\n', 'with its own variables');
    assert.equal((await list(c.sandboxID, a.envdAccessToken)).status, 401, 'and its own token');
    for (const made of [a, b, c]) assert.equal(await Sandbox.kill(made.sandboxID, opts), true);
    assert.equal((await request(server, 'DELETE', '/hangar/v1/e2b/templates/warm')).status, 200);
    assert.deepEqual((await machines()).filter((m) => m.config.metadata['e2b.spare'] === 'warm' && !['destroying', 'destroyed'].includes(m.state)), [], 'its spares went with it');
  });

  it('takes a snapshot of the sandbox that new sandboxes start from, files and processes, after the sandbox is gone', async () => {
    const source = await Sandbox.create('base', { ...opts, timeoutMs: 300_000 });
    await source.files.write('/work/app/config.json', '{"env": "test"}');
    const sleeper = await source.commands.run('sleep 1000', { background: true, timeoutMs: 0 });
    const snapshot = await source.createSnapshot({ name: 'e2e-snap' });
    assert.equal(snapshot.snapshotId, 'personal/e2e-snap:default');
    assert.equal((await source.commands.run('echo on')).stdout, 'on\n', 'the sandbox runs on');
    assert.equal(await source.kill(), true);
    const [one, two] = [await Sandbox.create(snapshot.snapshotId, opts), await Sandbox.create('e2e-snap', opts)] as [Sandbox, Sandbox];
    for (const made of [one, two]) {
      assert.equal(await made.files.read('/work/app/config.json'), '{"env": "test"}');
      assert.ok((await made.commands.list()).some((info) => info.pid === sleeper.pid), 'its processes too');
    }
    await one.files.write('/work/app/config.json', 'changed in one');
    assert.equal(await two.files.read('/work/app/config.json'), '{"env": "test"}', 'each its own copy');
    for (const made of [one, two]) assert.equal(await made.kill(), true);
    assert.equal(await Sandbox.deleteSnapshot(snapshot.snapshotId, opts), true);
    assert.equal(await Sandbox.deleteSnapshot(snapshot.snapshotId, opts), false);
  });

  it('gives the sandbox\'s metrics: its agent\'s samples of the microVM', async () => {
    let metrics: Awaited<ReturnType<Sandbox['getMetrics']>> = [];
    for (let i = 0; i < 30 && metrics.length === 0; i++) {
      metrics = await sandbox.getMetrics();
      if (metrics.length === 0) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const latest = metrics.at(-1);
    assert.ok(latest, 'samples within 15 s');
    assert.equal(latest.cpuCount, 1);
    assert.ok(latest.memTotal > 150 * 2 ** 20 && latest.memTotal <= 256 * 2 ** 20, `the guest's memory: ${latest.memTotal}`);
    assert.ok(latest.memUsed > 0 && latest.memUsed < latest.memTotal);
    assert.ok(Math.abs(latest.timestamp.getTime() - Date.now()) < 60_000, 'on hangar\'s clock');
  });

  it('lists sandboxes by metadata', async () => {
    const listed = await Sandbox.list({ ...opts, query: { metadata: { suite: 'e2e' } } }).nextItems();
    assert.deepEqual(listed.map((item) => [item.sandboxId, item.state]), [[sandbox.sandboxId, 'running']]);
    assert.deepEqual(await Sandbox.list({ ...opts, query: { metadata: { suite: 'other' } } }).nextItems(), []);
  });

  it('ends a sandbox at its timeout, and kill ends another: E2B\'s 502 for both', async () => {
    const short = await Sandbox.create('base', { ...opts, timeoutMs: 300_000 });
    assert.equal((await short.commands.run('echo up')).stdout, 'up\n');
    await short.setTimeout(2000);
    for (let i = 0; i < 300 && (await short.isRunning()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await short.isRunning(), false, 'ended by its timeout');
    assert.equal((await viaProxy(short.sandboxId)).status, 502);
    assert.equal(await sandbox.kill(), true);
    assert.equal((await viaProxy(sandbox.sandboxId)).status, 502);
    assert.equal(await Sandbox.kill(sandbox.sandboxId, opts), false, 'gone');
  });
});
