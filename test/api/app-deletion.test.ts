import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { LiveMachinesError } from '../../src/store/errors.ts';
import { testHangar, type Reply, type TestHangar } from '../helpers/hangar.ts';
import { request, startServerProcess } from '../helpers/server-process.ts';
import { flyGoCreate } from '../helpers/volumes.ts';

/** A reply, or 'pending' if none came within `ms` (a create left waiting for a machine that no longer exists). */
async function within(ms: number, reply: Promise<Reply>): Promise<Reply | 'pending'> {
  const timer = sleep(ms, 'pending' as const, { ref: false });
  return Promise.race([reply, timer]);
}

/** Polls `check` every 5 ms for up to 5 s. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let waited = 0; !(await check()); waited += 5) {
    if (waited > 5000) throw new Error(`gave up waiting until ${what}`);
    await sleep(5);
  }
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
  const marked = (app: string) => until(`app ${app} is marked`, async () => (await t.hangar.control.store.getApp(app))?.deleting === true);

  it('destroys every machine, those mid-create included, and refuses creates that come after it began', async () => {
    const app = await t.app('doomed');
    const running = await t.machine(app);
    const leased = await t.machine(app, { skip_launch: true, lease_ttl: 600 });
    const early = [create(app), create(app, { skip_launch: true }), create(app)];
    await until('the creates are preparing', async () => (await machinesOf(app)).size === 5);
    const ids = await machinesOf(app);
    const deletion = t.call('DELETE', `/v1/apps/${app}`);
    await marked(app);
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
    await until('the create is preparing', async () => (await machinesOf(app)).size === 2);
    const deletion = t.call('DELETE', `/v1/apps/${app}`);
    await marked(app);
    const volume = await t.call('POST', `/v1/apps/${app}/volumes`, { name: 'data', size_gb: 1 });
    assert.equal(volume.status, 409);
    assert.match(volume.body.error, /app going is being deleted/);
    assert.equal((await t.call('GET', `/v1/apps/${app}`)).status, 200, 'shown until it is gone');
    assert.equal((await deletion).status, 202);
    assert.equal((await slow).status, 409);
    assert.equal((await t.call('POST', '/v1/apps', { name: app })).status, 201);
  });

  it('two deletions at once both finish', async () => {
    const app = await t.app('twice');
    const m = await t.machine(app);
    const pending = create(app);
    await until('the create is preparing', async () => (await machinesOf(app)).size === 2);
    const [first, second] = await Promise.all([t.call('DELETE', `/v1/apps/${app}`), t.call('DELETE', `/v1/apps/${app}`)]);
    assert.equal(first.status, 202);
    assert.ok([202, 404].includes(second.status), JSON.stringify(second.body));
    assert.equal((await pending).status, 409);
    await t.idle();
    assert.equal(t.driver.vmState(m.id), 'absent');
    assert.equal((await t.call('GET', `/v1/apps/${app}`)).status, 404);
  });

  it('the store keeps an app while a machine of it is not destroyed', async () => {
    const app = await t.app('kept');
    const m = await t.machine(app);
    await assert.rejects(t.hangar.control.store.deleteApp(app), LiveMachinesError);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).status, 200);
  });
});

describe('an app deletion cut short by a crash', () => {
  it('is finished when hangar starts again: machines destroyed, volumes and snapshots deleted, the name free', async () => {
    const first = await testHangar({ keepDir: true });
    const app = await first.app('crashed');
    const running = await first.machine(app);
    const idle = await first.machine(app, { skip_launch: true });
    await first.waitFor(app, running.id, 'started');
    const volume = (await first.call('POST', `/v1/apps/${app}/volumes`, flyGoCreate('data', 1))).body;
    const snapshot = (await first.call('POST', `/v1/apps/${app}/volumes/${volume.id}/snapshots`)).body;
    const kept = await first.app('kept');
    const other = await first.machine(kept, { skip_launch: true });
    // Where a deletion that dies stops: the app marked, nothing of it deleted yet.
    await first.hangar.control.store.markAppDeleting(app);
    await first.close();

    const logged: Array<{ msg: string; app?: string }> = [];
    const t = await testHangar({ dir: first.dir, logger: pino({ level: 'info' }, { write: (line: string) => { logged.push(JSON.parse(line)); } }) });
    try {
      await until('the app is gone', async () => (await t.call('GET', `/v1/apps/${app}`)).status === 404);
      assert.deepEqual(await t.hangar.control.store.listMachines(app, { includeDeleted: true }), []);
      for (const id of [running.id, idle.id]) assert.equal(t.driver.vmState(id), 'absent');
      assert.equal(await t.hangar.control.store.getVolume(volume.id), null);
      assert.equal(existsSync(join(first.dir, 'volumes', `${volume.id}.ext4`)), false, 'the volume file is removed');
      assert.equal(existsSync(join(first.dir, 'volumes', 'snapshots', `${snapshot.id}.ext4`)), false, 'the snapshot file is removed');
      assert.deepEqual(logged.filter((line) => line.app === app).map((line) => line.msg), [
        `app ${app} was being deleted when hangar stopped: deleting it to the end`,
        `app ${app} deleted`,
      ]);
      assert.equal((await t.call('POST', '/v1/apps', { name: app })).status, 201, 'the name is free');
      assert.equal((await t.call('GET', `/v1/apps/${kept}/machines/${other.id}`)).status, 200, 'other apps are left alone');
    } finally {
      await t.close();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });

  it('is finished after hangar is killed half way through it (failpoint app-delete.after-destroy)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-deletion-crash-'));
    const fake = ['--driver', 'fake', '--fake-timing', 'instant'];
    let server = await startServerProcess(dir, 'crash-token', fake, { HANGAR_FAILPOINTS: 'app-delete.after-destroy=crash' });
    try {
      assert.equal((await request(server, 'POST', '/v1/apps', { name: 'killed' })).status, 201);
      const m = await request(server, 'POST', '/v1/apps/killed/machines', { config: { image: 'registry.test/hello:1' } });
      assert.equal(m.status, 200, JSON.stringify(m.body));
      const volume = await request(server, 'POST', '/v1/apps/killed/volumes', flyGoCreate('data', 1));
      assert.equal(volume.status, 200, JSON.stringify(volume.body));
      await assert.rejects(request(server, 'DELETE', '/v1/apps/killed'), 'hangar dies before it answers');
      assert.equal(await server.exited, 'SIGKILL');

      server = await startServerProcess(dir, 'crash-token', fake);
      await until('the app is gone', async () => (await request(server, 'GET', '/v1/apps/killed')).status === 404);
      assert.equal(existsSync(join(dir, 'volumes', `${volume.body.id}.ext4`)), false, 'the volume file is removed');
      assert.equal((await request(server, 'POST', '/v1/apps', { name: 'killed' })).status, 201, 'the name is free');
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
