/**
 * A cluster on PostgreSQL: 2 API replicas and 3 host agents (fake driver) as real
 * processes. Placement by region and room, every endpoint through either replica,
 * waits released across replicas, one lease winner among racing replicas, exec
 * reaching the machine's host, a host agent killed and restarted, and agents that
 * take only the cluster's replicas (mutual TLS).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ClusterProcess, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';

const image = 'registry.test/hello:1';
const small = { image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };

describe('a cluster of 2 API replicas and 3 host agents', { skip: postgresSkipReason() }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({
      replicas: 2,
      hosts: [
        { id: 'fra-1', region: 'fra' },
        { id: 'fra-2', region: 'fra' },
        { id: 'syd-1', region: 'syd', extraArgs: ['--host-memory-mb', '512'] },
      ],
    });
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: 'web', org_slug: 'personal' })).status, 201);
  });
  after(() => c?.stop());

  it('lists every host through either replica, up, with its region and address', async () => {
    for (const replica of [0, 1]) {
      const hosts = (await c.call(replica, 'GET', '/hangar/v1/hosts')).body;
      assert.deepEqual(hosts.map((h: { id: string; region: string; status: string }) => [h.id, h.region, h.status]),
        [['fra-1', 'fra', 'up'], ['fra-2', 'fra', 'up'], ['syd-1', 'syd', 'up']]);
      for (const host of hosts) assert.match(host.address, /^127\.0\.0\.1:\d+$/);
      const codes = (await c.call(replica, 'GET', '/v1/platform/regions')).body.regions.map((r: { code: string }) => r.code);
      for (const region of ['fra', 'syd']) assert.ok(codes.includes(region), `${region} in ${codes}`);
    }
  });

  it('places machines on hosts of their region, spreading them, and starts them there', async () => {
    const placed: Array<{ id: string; host_id: string }> = [];
    for (let i = 0; i < 4; i++) {
      const reply = await c.call(i % 2, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      placed.push(reply.body);
    }
    assert.deepEqual(placed.map((m) => m.host_id).sort(), ['fra-1', 'fra-1', 'fra-2', 'fra-2']);
    for (const m of placed) {
      const waited = await c.call(1, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`);
      assert.equal(waited.status, 200, JSON.stringify(waited.body));
    }
  });

  it('refuses a region no host serves (400 naming the regions) and a full region (503), creating nothing', async () => {
    const before = (await c.call(0, 'GET', '/v1/apps/web/machines')).body.length;
    const unknown = await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'ord', config: small });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /region "ord" has no hosts \(regions: fra, syd\)/);
    for (let i = 0; i < 2; i++) assert.equal((await c.call(i, 'POST', '/v1/apps/web/machines', { region: 'syd', config: small, skip_launch: true })).status, 200);
    const full = await c.call(1, 'POST', '/v1/apps/web/machines', { region: 'syd', config: small, skip_launch: true });
    assert.equal(full.status, 503);
    assert.match(full.body.error, /no host of region syd has room/);
    assert.equal((await c.call(1, 'GET', '/v1/apps/web/machines')).body.length, before + 2);
  });

  it('releases a waiter on one replica when a change commits through the other', async () => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    const waiting = c.call(1, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=30`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopped = Date.now();
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/stop`)).status, 200);
    const waited = await waiting;
    assert.equal(waited.status, 200, JSON.stringify(waited.body));
    assert.equal(waited.body.state, 'stopped');
    assert.ok(Date.now() - stopped < 10_000);
  });

  it('gives a lease to exactly one of 100 requests racing through both replicas, and holds its nonce on both', async () => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small, skip_launch: true })).body;
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => c.call(i % 2, 'POST', `/v1/apps/web/machines/${m.id}/lease`, { ttl: 60 })));
    const winners = replies.filter((reply) => reply.status === 201);
    assert.equal(winners.length, 1, JSON.stringify(replies.map((r) => r.status)));
    for (const reply of replies) if (reply.status !== 201) assert.equal(reply.status, 409);
    const nonce = winners[0]?.body.data.nonce;
    assert.equal((await c.call(1, 'POST', `/v1/apps/web/machines/${m.id}/start`)).status, 409, 'held on the other replica');
    const withNonce = await fetch(`${c.replicas[1]?.url}/v1/apps/web/machines/${m.id}/start`, {
      method: 'POST', headers: { authorization: 'Bearer test-cluster-token', 'fly-machine-lease-nonce': nonce },
    });
    assert.equal(withNonce.status, 200);
  });

  it('reaches the machine\'s host for exec through either replica', async () => {
    const m = (await c.call(1, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    for (const replica of [0, 1]) {
      const exec = await c.call(replica, 'POST', `/v1/apps/web/machines/${m.id}/exec`, { command: ['echo', 'hi'] });
      assert.equal(exec.status, 200, JSON.stringify(exec.body));
      assert.equal(exec.body.stdout, 'hi\n');
    }
  });

  it('gives an app\'s secrets, set through one replica, to its machines booted on the hosts they are placed on, opened there with the cluster\'s key', async () => {
    await c.call(0, 'POST', '/v1/apps', { name: 'sec', org_slug: 'personal' });
    const set = await c.call(0, 'POST', '/v1/apps/sec/secrets', { values: { DB_PASSWORD: 'cluster-canary' } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual((await c.call(1, 'GET', '/v1/apps/sec/secrets')).body.secrets.map((s: { name: string }) => s.name), ['DB_PASSWORD']);
    // fra: syd is full by now (see the test of a full region).
    for (let i = 0; i < 2; i++) {
      const created = await c.call(1, 'POST', '/v1/apps/sec/machines', { region: 'fra', config: small });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const m = created.body as { id: string; host_id: string };
      assert.equal((await c.call(0, 'GET', `/v1/apps/sec/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
      const printed = await c.call(1, 'POST', `/v1/apps/sec/machines/${m.id}/exec`, { command: ['printenv', 'DB_PASSWORD'] });
      assert.equal(printed.body.stdout, 'cluster-canary\n', `on host ${m.host_id}`);
      assert.equal((await c.call(0, 'DELETE', `/v1/apps/sec/machines/${m.id}?force=true`)).status, 200);
    }
  });

  it('forks a machine through either replica: the children go on the parent\'s host and start there', async () => {
    const parent = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${parent.id}/wait?state=started&timeout=30`)).status, 200);
    const hostOf = async (id: string) => ((await c.call(0, 'GET', `/v1/apps/web/machines/${id}`)).body as { host_id?: string }).host_id;
    const parentHost = await hostOf(parent.id);
    assert.match(parentHost ?? '', /^fra-/);
    for (const replica of [0, 1]) {
      const reply = await c.call(replica, 'POST', `/hangar/v1/apps/web/machines/${parent.id}/fork`, { count: 2 });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      for (const child of reply.body as Array<{ id: string }>) {
        assert.equal((await c.call(1 - replica, 'GET', `/v1/apps/web/machines/${child.id}/wait?state=started&timeout=30`)).status, 200);
        assert.equal(await hostOf(child.id), parentHost);
        const exec = await c.call(replica, 'POST', `/v1/apps/web/machines/${child.id}/exec`, { command: ['echo', 'child'] });
        assert.equal(exec.body.stdout, 'child\n', 'the child runs on the host that holds its snapshot');
      }
    }
  });

  it('keeps a volume on a host of its region, and its machine, snapshots and copies there', async () => {
    const onDisk = (hostId: string, file: string) => existsSync(join(c.hosts.get(hostId)?.dataDir as string, 'volumes', file));
    const first = await c.call(0, 'POST', '/v1/apps/web/volumes', { name: 'data', region: 'fra', size_gb: 1, require_unique_zone: true });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const home = first.body.host_id as string;
    assert.match(home, /^fra-[12]$/);
    assert.equal(first.body.zone, home);
    assert.ok(onDisk(home, `${first.body.id}.ext4`), 'the file is on the volume\'s host');
    for (const other of ['fra-1', 'fra-2', 'syd-1']) if (other !== home) assert.ok(!onDisk(other, `${first.body.id}.ext4`));
    for (const replica of c.replicas) assert.ok(!existsSync(join(replica.dataDir, 'volumes', `${first.body.id}.ext4`)), 'nothing on a replica');

    const second = await c.call(1, 'POST', '/v1/apps/web/volumes', { name: 'data', region: 'fra', size_gb: 1, require_unique_zone: true });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.notEqual(second.body.host_id, home, 'a unique zone: the other host of the region');

    const m = await c.call(1, 'POST', '/v1/apps/web/machines', { region: 'fra', config: { ...small, mounts: [{ volume: first.body.id, path: '/data' }] } });
    assert.equal(m.status, 200, JSON.stringify(m.body));
    assert.equal(m.body.host_id, home, 'the machine goes where its volume is');
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.body.id}/wait?state=started&timeout=30`)).status, 200);

    const snapshot = await c.call(0, 'POST', `/v1/apps/web/volumes/${first.body.id}/snapshots`);
    assert.equal(snapshot.status, 200, JSON.stringify(snapshot.body));
    const snapshots = (await c.call(1, 'GET', `/v1/apps/web/volumes/${first.body.id}/snapshots`)).body;
    assert.equal(snapshots.length, 1);
    assert.ok(onDisk(home, `snapshots/${snapshots[0].id}.ext4`));
    const restored = await c.call(1, 'POST', '/v1/apps/web/volumes', { name: 'restored', snapshot_id: snapshots[0].id });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    assert.equal(restored.body.host_id, home, 'a restore is made where the snapshot is');
    const fork = await c.call(0, 'POST', '/v1/apps/web/volumes', { name: 'fork', source_volume_id: second.body.id });
    assert.equal(fork.body.host_id, second.body.host_id, 'a fork is made where its source is');
    assert.ok(onDisk(fork.body.host_id, `${fork.body.id}.ext4`));

    const extended = await c.call(1, 'PUT', `/v1/apps/web/volumes/${second.body.id}/extend`, { size_gb: 3 });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.equal(statSync(join(c.hosts.get(second.body.host_id)?.dataDir as string, 'volumes', `${second.body.id}.ext4`)).size, 3 * 1024 ** 3);
    assert.equal((await c.call(0, 'DELETE', `/v1/apps/web/volumes/${second.body.id}`)).status, 200);
    assert.ok(!onDisk(second.body.host_id, `${second.body.id}.ext4`), 'deleted on its host');

    // A host agent touches only the files of its own volumes, named in their own form.
    const stranger = home === 'fra-1' ? 'fra-2' : 'fra-1';
    assert.equal((await c.agentFetch(stranger, `/agent/v1/volumes/${first.body.id}`, { method: 'DELETE' })).status, 404);
    assert.ok(onDisk(home, `${first.body.id}.ext4`));
    const escape = await c.agentFetch(stranger, '/agent/v1/volumes', { method: 'POST', body: { id: '../../x', sizeGb: 1, label: 'x' } });
    assert.equal(escape.status, 400);

    const nowhere = await c.call(0, 'POST', '/v1/apps/web/volumes', { name: 'data', region: 'ord' });
    assert.equal(nowhere.status, 400);
    assert.match(nowhere.body.error, /region "ord" has no hosts \(regions: fra, syd\)/);
  });

  it('lets nothing but the cluster\'s replicas drive a host agent, over TLS', async () => {
    const agent = c.hosts.get('fra-1')?.url as string;
    assert.match(agent, /^https:/);
    // No client certificate: the TLS handshake itself is refused.
    await assert.rejects(fetch(`${agent}/agent/v1/space`));
    // A host's own certificate is not a replica's.
    assert.equal((await c.agentFetch('fra-1', '/agent/v1/space', { as: (await c.credentials('fra-2')).dir })).status, 403);
    assert.equal((await c.agentFetch('fra-1', '/agent/v1/space')).status, 200);
    const foreign = (await c.call(0, 'GET', '/v1/apps/web/machines')).body.find((m: { host_id: string }) => m.host_id === 'fra-2');
    assert.equal((await c.agentFetch('fra-1', `/agent/v1/machines/${foreign.id}/ps`, { method: 'POST' })).status, 404, 'a host answers only for its own machines');
  });

  it('loses no work when a replica dies right after committing a change', async () => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small, skip_launch: true })).body;
    const doomed = await c.startReplica({ HANGAR_FAILPOINTS: 'machine.after-commit=crash' });
    const index = c.replicas.indexOf(doomed);
    await assert.rejects(c.call(index, 'POST', `/v1/apps/web/machines/${m.id}/start`), 'the replica dies before it answers');
    c.replicas.splice(index, 1);
    // The start was committed with its boot queued for the host: it runs though nobody is left to hand it over.
    const started = await c.call(1, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
  });

  it('finishes an app deletion cut short by a replica\'s death when a replica starts', async () => {
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: 'doomed', org_slug: 'personal' })).status, 201);
    const m = await c.call(0, 'POST', '/v1/apps/doomed/machines', { region: 'fra', config: small });
    assert.equal(m.status, 200, JSON.stringify(m.body));
    const volume = await c.call(0, 'POST', '/v1/apps/doomed/volumes', { name: 'data', region: 'fra', size_gb: 1 });
    assert.equal(volume.status, 200, JSON.stringify(volume.body));
    const file = join(c.hosts.get(volume.body.host_id)?.dataDir as string, 'volumes', `${volume.body.id}.ext4`);
    const doomed = await c.startReplica({ HANGAR_FAILPOINTS: 'app-delete.after-destroy=crash' });
    const index = c.replicas.indexOf(doomed);
    await assert.rejects(c.call(index, 'DELETE', '/v1/apps/doomed'), 'the replica dies before it answers');
    c.replicas.splice(index, 1);
    assert.equal((await c.call(0, 'GET', '/v1/apps/doomed')).status, 200, 'the app is left marked');
    assert.ok(existsSync(file), 'and its volume');

    await c.startReplica();
    for (let waited = 0; (await c.call(0, 'GET', '/v1/apps/doomed')).status !== 404; waited += 100) {
      assert.ok(waited < 30_000, 'the app is deleted within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(!existsSync(file), 'its volume\'s file is removed on its host');
    assert.equal((await c.call(1, 'GET', `/v1/apps/doomed/machines/${m.body.id}`)).status, 404);
  });

  it('marks the machines and volumes of a silent host unreachable, and ok again once it is heard from', async () => {
    const m = (await c.call(0, 'GET', '/v1/apps/web/machines')).body.find((x: { host_id: string }) => x.host_id === 'syd-1')
      ?? (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'syd', config: small, skip_launch: true })).body;
    const volume = (await c.call(0, 'POST', '/v1/apps/web/volumes', { name: 'sydney', region: 'syd', size_gb: 1 })).body;
    assert.equal(volume.host_id, 'syd-1');
    const status = async (replica: number) => [
      (await c.call(replica, 'GET', `/v1/apps/web/machines/${m.id}`)).body.host_status,
      (await c.call(replica, 'GET', '/v1/apps/web/machines')).body.find((x: { id: string }) => x.id === m.id).host_status,
      (await c.call(replica, 'GET', `/v1/apps/web/volumes/${volume.id}`)).body.host_status,
    ];
    const eventually = async (expected: string) => {
      for (let i = 0; i < 100 && (await status(0)).concat(await status(1)).some((s) => s !== expected); i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual([...await status(0), ...await status(1)], Array(6).fill(expected));
    };
    await eventually('ok');
    const host = c.hosts.get('syd-1') as ClusterProcess;
    await host.kill();
    // As if its last heartbeat were long ago, rather than waiting 30 s for it to be.
    await c.pg.sql(c.storeUrl, "UPDATE hosts SET heartbeat_at = now() - interval '1 hour' WHERE id = 'syd-1'");
    await eventually('unreachable');
    await c.startHost({ id: 'syd-1', region: 'syd', extraArgs: ['--host-memory-mb', '512'] }, host.dataDir);
    await eventually('ok');
  });

  it('keeps working when a host agent is killed and restarted: a new epoch, its machines converged and driven again', async () => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: { ...small, restart: { policy: 'no' } } })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    const host = c.hosts.get(m.host_id);
    assert.ok(host);
    await host.kill();
    // Work queued while the host is down waits for it in the database.
    const stop = await c.call(1, 'POST', `/v1/apps/web/machines/${m.id}/stop`);
    assert.equal(stop.status, 200);
    await c.startHost({ id: m.host_id, region: 'fra' }, host.dataDir);
    const stopped = await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=30`);
    assert.equal(stopped.status, 200, `${JSON.stringify((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body.events)}\n${c.hosts.get(m.host_id)?.output()}`);
    const shown = (await c.call(0, 'GET', '/hangar/v1/hosts')).body.find((h: { id: string }) => h.id === m.host_id);
    assert.equal(shown.epoch, 2);
    assert.equal(shown.status, 'up');
    assert.equal((await c.call(1, 'POST', `/v1/apps/web/machines/${m.id}/start`)).status, 200);
    const started = await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`);
    assert.equal(started.status, 200, JSON.stringify((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body.events));
  });
});

describe('a cluster whose PostgreSQL stops and comes back', { skip: postgresSkipReason() }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({ replicas: 2, hosts: [{ id: 'fra-1', region: 'fra' }] });
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: 'web', org_slug: 'personal' })).status, 201);
  });
  after(() => c?.stop());

  it('keeps machines running, journals an exit on the host, and reports it once the database is back', async () => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: { ...small, restart: { policy: 'no' } } })).body;
    const keep = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small })).body;
    for (const id of [m.id, keep.id]) assert.equal((await c.call(1, 'GET', `/v1/apps/web/machines/${id}/wait?state=started&timeout=30`)).status, 200);

    await c.pg.pause();
    // The machine's process dies while nothing can be written: the host keeps the exit.
    const killed = await c.agentFetch('fra-1', `/agent/v1/machines/${m.id}/signal`, { method: 'POST', body: { signal: 'SIGKILL' } });
    assert.equal(killed.status, 204, JSON.stringify(killed.body));
    const exec = await c.agentFetch('fra-1', `/agent/v1/machines/${keep.id}/exec`, { method: 'POST', body: { command: ['echo', 'alive'], timeoutMs: 5000 } });
    assert.equal(exec.body.stdout, 'alive\n', 'the other machine keeps running without the database');
    assert.notEqual((await c.call(0, 'GET', '/v1/apps/web/machines')).status, 200, 'replicas cannot answer without the database');

    await c.pg.resume();
    const stopped = await c.call(1, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=30`);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    const exit = (await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body.events.find((e: { type: string }) => e.type === 'exit');
    assert.equal(exit.request.exit_event.signal, 9);
    // Everything works again through both replicas.
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/start`)).status, 200);
    assert.equal((await c.call(1, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    assert.equal((await c.call(1, 'GET', `/v1/apps/web/machines/${keep.id}`)).body.state, 'started');
  });

  it('releases a waiter whose replica was still reconnecting when the change committed', async () => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    const waiting = c.call(1, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=60`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await c.pg.pause();
    await c.pg.resume();
    // Committed at once, while replica 1's listening connection is still being made again.
    const since = Date.now();
    for (let i = 0; i < 100 && (await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/stop`)).status !== 200; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const waited = await waiting;
    assert.equal(waited.status, 200, JSON.stringify(waited.body));
    assert.equal(waited.body.state, 'stopped');
    assert.ok(Date.now() - since < 15_000, `released after ${Date.now() - since} ms, not at its timeout`);
  });

  it('loses no acknowledged create when PostgreSQL restarts under load, and takes creates again after', async () => {
    const acknowledged: string[] = [];
    const refused: number[] = [];
    let running = true;
    const load = Promise.all([0, 1, 0, 1].map(async (replica) => {
      while (running) {
        const reply = await c.call(replica, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small, skip_launch: true }).catch(() => ({ status: 0, body: null }));
        if (reply.status === 200) acknowledged.push(reply.body.id);
        else refused.push(reply.status);
      }
    }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = acknowledged.length;
    await c.pg.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await c.pg.resume();
    const resumed = Date.now();
    while (acknowledged.length < before + 20 && Date.now() - resumed < 30_000) await new Promise((resolve) => setTimeout(resolve, 100));
    running = false;
    await load;
    assert.ok(before > 0, 'creates were answered before the restart');
    assert.ok(acknowledged.length >= before + 20, `creates are answered again after it (${acknowledged.length - before} since)`);
    for (const status of refused) assert.ok(status >= 500 || status === 0, `refused with ${status}`);
    for (const id of acknowledged) {
      for (const replica of [0, 1]) {
        const reply = await c.call(replica, 'GET', `/v1/apps/web/machines/${id}/wait?state=settled&timeout=30`);
        assert.equal(reply.status, 200, `${id}: ${JSON.stringify(reply.body)}`);
        assert.equal(reply.body.state, 'created', 'prepared on its host, though the report may have waited for the database');
      }
    }
  });
});
