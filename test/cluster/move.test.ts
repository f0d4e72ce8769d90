/**
 * Moving a machine between hosts: a stopped one, or a suspended one with its
 * snapshot carried over the agent APIs (the fake driver's, here: the real VMs'
 * are in test/e2e/cluster-move.test.ts). It keeps its 6PN address, starts (or
 * resumes) there and nowhere else, and the host it left lets go of it; a volume
 * goes with its machine, snapshots and all, within its region; every
 * refusal changes nothing; of two moves racing, one wins; a crash at each step of
 * a move leaves the machine on exactly one host. A host drained moves what can move.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { vmsNow } from '../helpers/chaos.ts';
import { fakeLedger, startCluster, type ClusterProcess, type TestCluster } from '../helpers/cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';

const small = { image: 'registry.test/hello:1', guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };

describe('moving a machine between hosts', { skip: postgresSkipReason() }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({ replicas: 1, hosts: [{ id: 'fra-1', region: 'fra' }, { id: 'fra-2', region: 'fra' }, { id: 'syd-1', region: 'syd' }] });
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: 'web', org_slug: 'personal' })).status, 201);
  });
  after(() => c?.stop());

  const stoppedMachine = async (region = 'fra'): Promise<{ id: string; host_id: string; private_ip: string }> => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region, config: small })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/stop`)).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=30`)).status, 200);
    return m;
  };
  const suspendedMachine = async (config: object = small): Promise<{ id: string; host_id: string; private_ip: string }> => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/suspend`)).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=suspended&timeout=30`)).status, 200);
    return m;
  };
  const otherThan = (host: string) => (host === 'fra-1' ? 'fra-2' : 'fra-1');
  /** Starts the machine; answers whether it resumed (else it booted cold). */
  const startedResumed = async (id: string): Promise<boolean> => {
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${id}/start`)).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${id}/wait?state=started&timeout=30`)).status, 200);
    const events = (await c.call(0, 'GET', `/v1/apps/web/machines/${id}/events`)).body as Array<{ type: string; timestamp: number; request?: { resumed?: boolean } }>;
    return events.filter((e) => e.type === 'start' && e.request?.resumed !== undefined).sort((a, b) => b.timestamp - a.timestamp)[0]?.request?.resumed === true;
  };
  const move = (id: string, body: object) => c.call(0, 'POST', `/hangar/v1/apps/web/machines/${id}/move`, body);
  const hostNumber = async (id: string) => parseInt((await c.call(0, 'GET', '/hangar/v1/hosts')).body.find((h: { id: string }) => h.id === id).host_number, 16);

  it('moves a stopped machine to the host asked for, keeping its address; it starts there only, and the host it left lets go of it', async () => {
    const m = await stoppedMachine();
    const target = m.host_id === 'fra-1' ? 'fra-2' : 'fra-1';
    const moved = await move(m.id, { host: target });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.host_id, target);
    assert.equal(moved.body.state, 'stopped');
    assert.equal(moved.body.private_ip, m.private_ip, 'it keeps its 6PN address');
    assert.notEqual(parseInt(String(m.private_ip).split(':')[3] ?? '', 16), await hostNumber(target), 'which lies in its former host\'s /64');
    const events = (await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/events`)).body as Array<{ type: string; request?: Record<string, unknown> }>;
    assert.deepEqual(events.find((e) => e.type === 'migrate')?.request, { from_host: m.host_id, to_host: target });

    const source = c.hosts.get(m.host_id) as ClusterProcess;
    for (let i = 0; i < 50 && !source.output().includes(`machine ${m.id}: its VM is ended and its files removed`); i++) await sleep(100);
    assert.match(source.output(), new RegExp(`machine ${m.id}: its VM is ended and its files removed`));

    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/start`)).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    assert.equal(vmsNow(fakeLedger(c.hosts.get(target) as ClusterProcess)).get(m.id), 'running');
    assert.equal(vmsNow(fakeLedger(source)).has(m.id), false);
  });

  it('moves a suspended machine with its snapshot: it resumes on the new host, and the host it left lets go of it', async () => {
    const m = await suspendedMachine();
    const target = otherThan(m.host_id);
    const moved = await move(m.id, { host: target });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.deepEqual([moved.body.host_id, moved.body.state, moved.body.private_ip], [target, 'suspended', m.private_ip]);
    const source = c.hosts.get(m.host_id) as ClusterProcess;
    for (let i = 0; i < 50 && vmsNow(fakeLedger(source)).has(m.id); i++) await sleep(100);
    assert.equal(vmsNow(fakeLedger(source)).has(m.id), false, 'the host it left holds nothing of it');
    const inbox = join(c.hosts.get(target)?.dataDir as string, 'incoming', m.id);
    for (let i = 0; i < 50 && existsSync(inbox); i++) await sleep(100);
    assert.equal(existsSync(inbox), false, 'the move settled: the target\'s inbox is gone');
    assert.equal(await startedResumed(m.id), true, 'it resumed from the snapshot carried over');
    assert.equal(vmsNow(fakeLedger(c.hosts.get(target) as ClusterProcess)).get(m.id), 'running');
  });

  it('moves a started machine suspended first when asked, stopped when asked, and refuses it (409) when asked for neither', async () => {
    const m = await suspendedMachine();
    assert.equal(await startedResumed(m.id), true);
    const refused = await move(m.id, { host: otherThan(m.host_id) });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.error, /suspends it first .* or stops it/);
    const moved = await move(m.id, { host: otherThan(m.host_id), suspend: true });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.deepEqual([moved.body.host_id, moved.body.state], [otherThan(m.host_id), 'suspended']);
    assert.equal(await startedResumed(m.id), true, 'with its memory');

    // With swap, a machine cannot be suspended (as on Fly).
    const unsuspendable = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: { ...small, init: { swap_size_mb: 64 } } })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${unsuspendable.id}/wait?state=started&timeout=30`)).status, 200);
    const cannot = await move(unsuspendable.id, { host: otherThan(unsuspendable.host_id), suspend: true });
    assert.equal(cannot.status, 409, JSON.stringify(cannot.body));
    assert.match(cannot.body.error, /cannot be suspended/);
    const stopped = await move(unsuspendable.id, { host: otherThan(unsuspendable.host_id), suspend: true, stop: true });
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal(stopped.body.state, 'stopped');
  });

  for (const [failpoint, where] of [
    ['migrate.after-reserve', 'source'], ['migrate.after-copy', 'source'], ['migrate.after-commit', 'target'],
  ] as const) {
    it(`leaves the machine on exactly one host (the ${where}) when the replica dies at ${failpoint}`, async () => {
      const m = await suspendedMachine();
      const target = otherThan(m.host_id);
      const doomed = await c.startReplica({ HANGAR_FAILPOINTS: `${failpoint}=crash` });
      const index = c.replicas.indexOf(doomed);
      await assert.rejects(c.call(index, 'POST', `/hangar/v1/apps/web/machines/${m.id}/move`, { host: target }), 'the replica dies before it answers');
      c.replicas.splice(index, 1);
      const shown = (await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body;
      assert.deepEqual([shown.host_id, shown.state], [where === 'source' ? m.host_id : target, 'suspended']);
      assert.equal(await startedResumed(m.id), true, 'and it resumes there with its memory');
      const running = [m.host_id, target].filter((host) => vmsNow(fakeLedger(c.hosts.get(host) as ClusterProcess)).get(m.id) === 'running');
      assert.deepEqual(running, [shown.host_id], 'running on that host only');
    });
  }

  it('leaves the machine on the target alone when the host it left dies at migrate.before-cleanup; that host lets go of its copy when back', async () => {
    const m = await suspendedMachine();
    const target = otherThan(m.host_id);
    const source = c.hosts.get(m.host_id) as ClusterProcess;
    await source.stop();
    const doomed = await c.startHost({ id: m.host_id, region: 'fra' }, source.dataDir, { HANGAR_FAILPOINTS: 'migrate.before-cleanup=crash' });
    const moved = await move(m.id, { host: target });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    for (let i = 0; i < 100 && doomed.child.exitCode === null && doomed.child.signalCode === null; i++) await sleep(50);
    assert.equal(doomed.child.signalCode, 'SIGKILL', 'the host it left died before it let go');
    assert.equal(vmsNow(fakeLedger(source)).get(m.id), 'suspended', 'its copy is still there');
    const back = await c.startHost({ id: m.host_id, region: 'fra' }, source.dataDir);
    for (let i = 0; i < 100 && vmsNow(fakeLedger(back)).has(m.id); i++) await sleep(100);
    assert.equal(vmsNow(fakeLedger(back)).has(m.id), false, 'and goes once the host is back');
    assert.equal(await startedResumed(m.id), true, 'the machine resumes on the target');
    assert.equal(vmsNow(fakeLedger(c.hosts.get(target) as ClusterProcess)).get(m.id), 'running');
  });

  it('moves a machine with its volume and the volume\'s snapshots within their region; refuses another region (400)', async () => {
    const volume = (await c.call(0, 'POST', '/v1/apps/web/volumes', { name: 'data', region: 'fra', size_gb: 1 })).body;
    const snapshot = await c.call(0, 'POST', `/v1/apps/web/volumes/${volume.id}/snapshots`);
    assert.equal(snapshot.status, 200, JSON.stringify(snapshot.body));
    const snapshotId = (await c.call(0, 'GET', `/v1/apps/web/volumes/${volume.id}/snapshots`)).body[0].id as string;
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: { ...small, mounts: [{ volume: volume.id, path: '/data' }] } })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/stop`)).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=30`)).status, 200);
    const source = m.host_id as string;
    const target = otherThan(source);
    const onDisk = (host: string, file: string) => existsSync(join(c.hosts.get(host)?.dataDir as string, 'volumes', file));
    assert.ok(onDisk(source, `${volume.id}.ext4`) && onDisk(source, `snapshots/${snapshotId}.ext4`));

    const elsewhere = await move(m.id, { region: 'syd' });
    assert.equal(elsewhere.status, 400, JSON.stringify(elsewhere.body));
    assert.match(elsewhere.body.error, /stays in region fra/);

    const moved = await move(m.id, { host: target });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/volumes/${volume.id}`)).body.zone, target, 'the volume is on the new host');
    assert.ok(onDisk(target, `${volume.id}.ext4`) && onDisk(target, `snapshots/${snapshotId}.ext4`), 'with its file and its snapshot\'s');
    assert.ok(!onDisk(source, `${volume.id}.ext4`) && !onDisk(source, `snapshots/${snapshotId}.ext4`), 'which the host it left removed');
    assert.equal(await startedResumed(m.id), false, 'it boots there, mounting its volume');
    assert.equal(vmsNow(fakeLedger(c.hosts.get(target) as ClusterProcess)).get(m.id), 'running');
    const restored = await c.call(0, 'POST', '/v1/apps/web/volumes', { name: 'restored', snapshot_id: snapshotId });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    assert.equal(restored.body.zone, target, 'its snapshot restores on the host that holds it now');
  });

  it('has the target let go of the snapshot and volume a move brought when the move fails before its commit', async () => {
    const volume = (await c.call(0, 'POST', '/v1/apps/web/volumes', { name: 'kept', region: 'fra', size_gb: 1 })).body;
    const m = await suspendedMachine({ ...small, mounts: [{ volume: volume.id, path: '/data' }] });
    const target = otherThan(m.host_id);
    const failing = await c.startReplica({ HANGAR_FAILPOINTS: 'migrate.after-copy=error' });
    const index = c.replicas.indexOf(failing);
    try {
      const failed = await c.call(index, 'POST', `/hangar/v1/apps/web/machines/${m.id}/move`, { host: target });
      assert.equal(failed.status, 500, JSON.stringify(failed.body));
    } finally {
      c.replicas.splice(index, 1);
      await failing.stop();
    }
    const shown = (await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body;
    assert.deepEqual([shown.host_id, shown.state], [m.host_id, 'suspended'], 'nothing moved');
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/volumes/${volume.id}`)).body.zone, m.host_id);
    const targetDir = c.hosts.get(target)?.dataDir as string;
    assert.ok(!existsSync(join(targetDir, 'volumes', `${volume.id}.ext4`)), 'the target removed the volume it received');
    assert.equal(vmsNow(fakeLedger(c.hosts.get(target) as ClusterProcess)).has(m.id), false, 'and the snapshot');
    assert.ok(existsSync(join(c.hosts.get(m.host_id)?.dataDir as string, 'volumes', `${volume.id}.ext4`)), 'the source keeps its own');
    assert.equal(await startedResumed(m.id), true, 'which resumes there');
  });

  it('has a host\'s inbox refuse what does not fit its move, and let go only for its own move', async () => {
    const m = await suspendedMachine();
    const target = otherThan(m.host_id);
    const machine = JSON.stringify((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body);
    const inbox = (path = '', method = 'GET', body?: unknown) => c.agentFetch(target, `/agent/v1/incoming/${m.id}${path}`, { method, body });
    const [move, other] = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];
    const files = [{ name: 'guest.json', bytes: 10, blocks: ['a'.repeat(64)] }];
    // The API's machine shape is not a stored record.
    assert.equal((await inbox('', 'POST', { move, files, machine })).status, 400);
    assert.equal((await inbox('', 'POST', { move: 'not-a-move', files, machine })).status, 400);
    assert.equal((await inbox('', 'POST', { move, files: [{ ...files[0], name: '../etc/passwd' }], machine })).status, 400);
    assert.equal((await inbox('', 'POST', { move, files: [{ ...files[0], blocks: [] }], machine })).status, 400);
    assert.equal((await inbox(`?move=${move}`)).status, 409, 'no inbox of that move');
    assert.equal((await inbox(`/guest.json?offset=1&move=${move}`, 'PUT')).status, 409);
    assert.equal((await inbox(`/settled?move=${move}`, 'POST')).status, 409, 'no move of it to settle');
    assert.equal((await inbox('/settled?move=..', 'POST')).status, 400);
    assert.equal((await inbox(`?move=${other}`, 'DELETE')).status, 200, 'a drop of another move does nothing');
    assert.equal((await c.agentFetch(m.host_id, `/agent/v1/machines/${m.id}/parcel`, { method: 'POST', body: { volumes: ['vol_0000000000000000'] } })).status, 404, 'a volume not on the source');
    assert.equal((await c.agentFetch(target, `/agent/v1/machines/${m.id}/parcel`, { method: 'POST', body: {} })).status, 404, 'a machine not on that host');
    assert.equal(await startedResumed(m.id), true, 'the machine is untouched');
  });

  it('moves to a region: a host there is chosen, and the machine is in that region', async () => {
    const m = await stoppedMachine();
    const moved = await move(m.id, { region: 'syd' });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.deepEqual([moved.body.host_id, moved.body.region], ['syd-1', 'syd'], 'the machine is in its new host\'s region');
    const listed = (await c.call(0, 'GET', '/v1/apps/web/machines?region=syd')).body as Array<{ id: string }>;
    assert.ok(listed.some((listedMachine) => listedMachine.id === m.id), 'and listed there (the region column moved with the document)');
  });

  it('refuses, changing nothing: its own host, a running machine, an unknown or cordoned host, a question without one answer', async () => {
    const m = await stoppedMachine();
    const other = m.host_id === 'fra-1' ? 'fra-2' : 'fra-1';
    assert.equal((await move(m.id, { host: m.host_id })).status, 400);
    assert.equal((await move(m.id, {})).status, 400);
    assert.equal((await move(m.id, { host: other, region: 'fra' })).status, 400);
    assert.equal((await move(m.id, { host: 'nowhere-1' })).status, 404);
    assert.equal((await c.call(0, 'POST', `/hangar/v1/hosts/${other}/cordon`)).status, 200);
    try {
      const cordoned = await move(m.id, { host: other });
      assert.equal(cordoned.status, 503, JSON.stringify(cordoned.body));
      assert.match(cordoned.body.error, /cordoned/);
    } finally {
      await c.call(0, 'POST', `/hangar/v1/hosts/${other}/uncordon`);
    }
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/start`)).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    const running = await move(m.id, { host: other });
    assert.equal(running.status, 409, JSON.stringify(running.body));
    const shown = (await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body;
    assert.deepEqual([shown.host_id, shown.private_ip, shown.state], [m.host_id, m.private_ip, 'started'], 'nothing changed');
  });

  it('drains a host: cordoned, its machines moved within their region (running ones suspended first), one that cannot suspend with stop, the rest listed', async () => {
    const on = async (host: string, started: boolean) => {
      for (let i = 0; i < 20; i++) {
        const m = await stoppedMachine();
        if (m.host_id === host) {
          if (started) {
            await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/start`);
            assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
          }
          return m;
        }
        await c.call(0, 'DELETE', `/v1/apps/web/machines/${m.id}?force=true`);
      }
      throw new Error(`no machine placed on ${host}`);
    };
    const idle = await on('fra-1', false);
    const running = await on('fra-1', true);
    const busy = await on('fra-1', false);
    // With swap, a machine cannot be suspended (as on Fly).
    assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${busy.id}`, { config: { ...small, init: { swap_size_mb: 64 } } })).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${busy.id}/wait?state=started&timeout=30`)).status, 200);
    try {
      const first = await c.call(0, 'POST', '/hangar/v1/hosts/fra-1/drain', {});
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(first.body.moved.find((m: { id: string }) => m.id === idle.id), { id: idle.id, app: 'web', to: 'fra-2' });
      assert.deepEqual(first.body.moved.find((m: { id: string }) => m.id === running.id), { id: running.id, app: 'web', to: 'fra-2' });
      assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${running.id}`)).body.state, 'suspended', 'the running one suspended, to resume there');
      assert.match(first.body.left.find((m: { id: string }) => m.id === busy.id)?.reason ?? '', /cannot be suspended/);
      assert.equal((await c.call(0, 'GET', '/hangar/v1/hosts')).body.find((h: { id: string }) => h.id === 'fra-1').status, 'cordoned');
      assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${busy.id}`)).body.state, 'started', 'left running');

      const second = await c.call(0, 'POST', '/hangar/v1/hosts/fra-1/drain', { stop: true });
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.deepEqual(second.body.moved.find((m: { id: string }) => m.id === busy.id), { id: busy.id, app: 'web', to: 'fra-2' });
      const shown = (await c.call(0, 'GET', `/v1/apps/web/machines/${busy.id}`)).body;
      assert.deepEqual([shown.host_id, shown.state], ['fra-2', 'stopped']);
    } finally {
      await c.call(0, 'POST', '/hangar/v1/hosts/fra-1/uncordon');
    }
  });

  it('of two moves racing, one wins and the other gets 409', async () => {
    // Suspended: each move carries the snapshot before it commits, so both read the machine before either commits
    // (a stopped machine's move is over in milliseconds, and the second could start after the first ended).
    const m = await suspendedMachine();
    const others = ['fra-1', 'fra-2', 'syd-1'].filter((id) => id !== m.host_id);
    const replies = await Promise.all(others.map((host) => move(m.id, { host })));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 409], JSON.stringify(replies.map((r) => r.body)));
    const winner = replies.find((r) => r.status === 200)?.body.host_id;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body.host_id, winner);
    const loser = others.find((host) => host !== winner) as string;
    assert.equal(vmsNow(fakeLedger(c.hosts.get(loser) as ClusterProcess)).has(m.id), false, 'the losing move\'s target let go of what it received');
  });
});
