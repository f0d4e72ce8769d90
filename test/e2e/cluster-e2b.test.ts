/**
 * E2B sandboxes in a cluster, on real microVMs: PostgreSQL, two API replicas and
 * one host agent running QEMU, with the real `e2b` SDK. A sandbox made through one
 * replica is seen, paused, connected to (resumed) and killed through the other;
 * its commands reach it through the host's edge proxy. Creates of a `--snapshot`
 * template through both replicas at once share one base: the replicas agree on it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Sandbox } from 'e2b';
import type { TestCluster } from '../helpers/cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { type RealHosts, startRealHosts } from '../helpers/real-hosts.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep'];
const SANDBOX_APP = 'e2b-personal';

describe('E2B sandboxes in a cluster of two replicas and a real host', { skip: postgresSkipReason() }, () => {
  let rig: RealHosts;
  let c: TestCluster;
  /** The SDK's options through replica 0 and replica 1, both with one key. */
  const through: Array<{ apiKey: string; apiUrl: string; sandboxUrl: string }> = [];

  before(async () => {
    // E2B names no region: sandboxes go to the replicas' own.
    rig = await startRealHosts({ app: 'unused', replicas: 2, hosts: [{ id: 'fra-1', region: 'fra' }], applets: APPLETS, replicaArgs: ['--region', 'fra'] });
    c = rig.c;
    const key = await c.call(0, 'POST', '/hangar/v1/e2b/keys', { name: 'cluster' });
    assert.equal(key.status, 201);
    for (const template of [{ templateID: 'base' }, { templateID: 'warm', snapshot: true }]) {
      const made = await c.call(1, 'POST', '/hangar/v1/e2b/templates', { ...template, image: rig.image, cpuCount: 1, memoryMB: 256 });
      assert.equal(made.status, 201, JSON.stringify(made.body));
    }
    const proxy = c.hosts.get('fra-1')?.proxyUrl();
    assert.ok(proxy, 'the host\'s edge proxy listens');
    for (const replica of c.replicas) through.push({ apiKey: key.body.key, apiUrl: `${replica.url}/e2b`, sandboxUrl: proxy });
  });
  after(async () => {
    const listed = c ? ((await c.call(0, 'GET', `/v1/apps/${SANDBOX_APP}/machines`).catch(() => ({ body: [] }))).body ?? []) as Array<{ id: string }> : [];
    for (const m of listed) await c.call(0, 'DELETE', `/v1/apps/${SANDBOX_APP}/machines/${m.id}?force=true`).catch(() => undefined);
    for (const m of listed) await c.call(0, 'GET', `/v1/apps/${SANDBOX_APP}/machines/${m.id}/wait?state=destroyed&timeout=60`).catch(() => undefined);
    await rig?.stop();
  });

  it('makes a sandbox through one replica, and sees, pauses, resumes and kills it through the other', async () => {
    const [zero, one] = through as [typeof through[0], typeof through[0]];
    const sandbox = await Sandbox.create('base', { ...zero, metadata: { made: 'by-0' } });
    assert.equal((await sandbox.commands.run('echo in the cluster')).stdout, 'in the cluster\n');
    await sandbox.files.write('/tmp/kept', 'kept in memory');

    const listed = await Sandbox.list({ ...one, query: { metadata: { made: 'by-0' } } }).nextItems();
    assert.deepEqual(listed.map((item) => item.sandboxId), [sandbox.sandboxId]);
    assert.equal((await Sandbox.getInfo(sandbox.sandboxId, one)).state, 'running');

    assert.equal(await Sandbox.pause(sandbox.sandboxId, one), true);
    assert.equal((await Sandbox.getInfo(sandbox.sandboxId, zero)).state, 'paused');
    const resumed = await Sandbox.connect(sandbox.sandboxId, zero);
    assert.equal(await resumed.files.read('/tmp/kept'), 'kept in memory');
    assert.equal(await Sandbox.kill(sandbox.sandboxId, one), true);
    assert.equal(await Sandbox.kill(sandbox.sandboxId, zero), false, 'gone for both');
  });

  it('shares one base of a snapshot template between creates through both replicas at once', async () => {
    const made = await Promise.all(through.map((opts) => Sandbox.create('warm', opts)));
    for (const sandbox of made) assert.equal((await sandbox.commands.run('echo forked')).stdout, 'forked\n');
    const machines = (await c.call(0, 'GET', `/v1/apps/${SANDBOX_APP}/machines`)).body as Array<{ state: string; config: { metadata: Record<string, string> } }>;
    const bases = machines.filter((m) => m.config.metadata['e2b.base'] === 'warm' && !['destroying', 'destroyed'].includes(m.state));
    assert.equal(bases.length, 1, `one base: ${JSON.stringify(bases.map((m) => m.state))}`);
    for (const sandbox of made) assert.equal(await sandbox.kill(), true);
  });
});
