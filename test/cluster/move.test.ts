/**
 * Moving a machine between hosts (its first form: a stopped machine with nothing
 * on its host worth carrying): it keeps its 6PN address, starts there and
 * nowhere else, and the host it left lets go of it; every refusal changes nothing;
 * of two moves racing, one wins. A host drained moves what can move.
 */
import assert from 'node:assert/strict';
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

  it('drains a host: cordoned, its stopped machines moved within their region, its running ones with stop, the rest listed', async () => {
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
    const busy = await on('fra-1', true);
    try {
      const first = await c.call(0, 'POST', '/hangar/v1/hosts/fra-1/drain', {});
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(first.body.moved.find((m: { id: string }) => m.id === idle.id), { id: idle.id, app: 'web', to: 'fra-2' });
      assert.match(first.body.left.find((m: { id: string }) => m.id === busy.id)?.reason ?? '', /is started: only a stopped machine can move yet/);
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
    const m = await stoppedMachine();
    const others = ['fra-1', 'fra-2', 'syd-1'].filter((id) => id !== m.host_id);
    const replies = await Promise.all(others.map((host) => move(m.id, { host })));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 409], JSON.stringify(replies.map((r) => r.body)));
    const winner = replies.find((r) => r.status === 200)?.body.host_id;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body.host_id, winner);
  });
});
