import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { LiveMachinesError } from '../../src/store/store.ts';
import { testHangar, type Reply, type TestHangar } from '../helpers/hangar.ts';

/** A reply, or 'pending' if none came within `ms` (a create left waiting for a machine that no longer exists). */
async function within(ms: number, reply: Promise<Reply>): Promise<Reply | 'pending'> {
  const timer = sleep(ms, 'pending' as const, { ref: false });
  return Promise.race([reply, timer]);
}

describe('deleting an app', () => {
  let t: TestHangar;
  // Every image takes 300 ms to prepare: creates are caught half way.
  before(async () => { t = await testHangar({ delays: { prepareMs: 300 } }); });
  after(() => t.close());

  const create = (app: string, body: Record<string, unknown> = {}) => t.call('POST', `/v1/apps/${app}/machines`, { config: { image: 'registry.test/app:1' }, ...body });
  const machinesOf = async (app: string) => new Set(
    (await t.hangar.control.store.listMachines(app, { includeDeleted: true })).map(({ machine }) => machine.id),
  );

  it('destroys every machine, those mid-create included, and refuses creates that come after it began', async () => {
    const app = await t.app('doomed');
    const running = await t.machine(app);
    const leased = await t.machine(app, { skip_launch: true, lease_ttl: 600 });
    const early = [create(app), create(app, { skip_launch: true }), create(app)];
    await sleep(50); // inserted, preparing
    const ids = await machinesOf(app);
    assert.equal(ids.size, 5);
    const deletion = t.call('DELETE', `/v1/apps/${app}`);
    await sleep(20);
    const late = [create(app), create(app)];

    assert.equal((await deletion).status, 202);
    const earlyReplies = await Promise.all(early.map((r) => within(5000, r)));
    const lateReplies = await Promise.all(late.map((r) => within(5000, r)));
    await t.idle();
    const prepared = new Set(t.driver.calls.filter((call) => call.op === 'prepare').map((call) => call.machineId));
    for (const id of [...ids, ...prepared]) {
      assert.equal(t.driver.vmState(id), 'absent', `machine ${id} has no VM`);
      assert.equal(t.driver.hasPrepared(id), false, `machine ${id} has no prepared state`);
    }
    for (const reply of earlyReplies) {
      assert.notEqual(reply, 'pending', 'a create caught by the deletion answers');
      assert.equal((reply as Reply).status, 409);
      assert.match((reply as Reply).body.error, /was destroyed before it was created/);
    }
    for (const reply of lateReplies) {
      assert.notEqual(reply, 'pending', 'a create after the deletion began answers');
      assert.ok([404, 409].includes((reply as Reply).status), JSON.stringify(reply));
    }
    assert.ok(ids.has(running.id) && ids.has(leased.id));
    assert.equal((await t.call('GET', `/v1/apps/${app}`)).status, 404);
    assert.equal((await machinesOf(app)).size, 0);
  });

  it('refuses volume creates while it runs, and the name is free once it is done', async () => {
    const app = await t.app('going');
    await t.machine(app);
    const slow = create(app); // keeps the deletion busy for a while
    await sleep(50);
    const deletion = t.call('DELETE', `/v1/apps/${app}`);
    await sleep(20);
    const volume = await t.call('POST', `/v1/apps/${app}/volumes`, { name: 'data', size_gb: 1 });
    assert.equal(volume.status, 409);
    assert.match(volume.body.error, /app going is being deleted/);
    assert.equal((await t.call('GET', `/v1/apps/${app}`)).status, 200, 'shown until it is gone');
    assert.equal((await deletion).status, 202);
    assert.equal((await slow).status, 409);
    assert.equal((await t.call('POST', '/v1/apps', { name: app })).status, 201);
  });

  it('the store keeps an app while a machine of it is not destroyed', async () => {
    const app = await t.app('kept');
    const m = await t.machine(app);
    await assert.rejects(t.hangar.control.store.deleteApp(app), LiveMachinesError);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).status, 200);
  });
});
