/**
 * An update prepares the new version's image while the old VM keeps running, and
 * stops the old VM only once that worked. When preparing fails, the machine keeps
 * running the old version: still `started`, its version unchanged (or rolled
 * back), an `update` event with the error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('update prepares before it stops', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('upd');
  });
  after(() => t.close());

  const url = (id: string) => `/v1/apps/${app}/machines/${id}`;
  const stops = (id: string) => t.driver.calls.filter((c) => c.op === 'stop' && c.machineId === id).length;

  it('refuses an update whose image cannot be pulled, and the old version keeps running', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    t.driver.failNext('pull', 'manifest unknown: registry.test/hello:missing');
    const reply = await t.call('POST', url(m.id), { config: { image: 'registry.test/hello:missing' } });
    assert.equal(reply.status, 422, JSON.stringify(reply.body));
    assert.match(reply.body.error, /failed to update machine .*: .*manifest unknown/);
    await t.idle();
    const shown = (await t.call('GET', url(m.id))).body;
    assert.equal(shown.state, 'started');
    assert.equal(shown.instance_id, m.instance_id, 'the version is unchanged');
    assert.equal(shown.config.image, 'registry.test/hello:1');
    assert.equal(stops(m.id), 0, 'the old VM was never stopped');
    assert.equal(t.driver.vmState(m.id), 'running');
    const event = shown.events[0];
    assert.deepEqual([event.type, event.status], ['update', 'started']);
    assert.match(event.request.error, /manifest unknown/);
    const versions = (await t.call('GET', `${url(m.id)}/versions`)).body;
    assert.deepEqual(versions.map((v: { version: string }) => v.version), [m.instance_id], 'no version was made');
  });

  it('prepares before it stops, and rolls back to the running version if that fails late', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    t.driver.failNext('prepare', 'no space left on device');
    const reply = await t.call('POST', url(m.id), { config: { image: 'registry.test/hello:2' } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.state, 'replacing');
    await t.waitFor(app, m.id, 'started');
    await t.idle();
    const shown = (await t.call('GET', url(m.id))).body;
    assert.equal(shown.state, 'started');
    assert.equal(shown.instance_id, m.instance_id, 'rolled back to the version that runs');
    assert.equal(shown.config.image, 'registry.test/hello:1');
    assert.equal(stops(m.id), 0, 'the old VM was never stopped');
    const event = shown.events.find((e: { type: string; status: string }) => e.type === 'update' && e.status === 'started');
    assert.match(String(event?.request.error), /no space left on device/);
    assert.equal(event?.request.rolled_back_to, m.instance_id);
  });

  it('with the image prepared, stops the old VM and boots the new version', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const reply = await t.call('POST', url(m.id), { config: { image: 'registry.test/hello:3' } });
    assert.equal(reply.status, 200);
    await t.call('GET', `${url(m.id)}/wait?state=started&version=${reply.body.instance_id}&timeout=10`);
    const calls = t.driver.calls.filter((c) => c.machineId === m.id || c.op === 'pull').map((c) => c.op);
    const last = calls.slice(calls.lastIndexOf('pull'));
    assert.deepEqual(last.filter((op) => ['pull', 'prepare', 'stop', 'launch'].includes(op)), ['pull', 'prepare', 'stop', 'launch']);
    assert.equal((await t.call('GET', url(m.id))).body.config.image, 'registry.test/hello:3');
  });

  it('refuses an update of a stopped machine whose image cannot be pulled: it stays stopped, as it was', async () => {
    const m = await t.machine(app, { skip_launch: true });
    t.driver.failNext('pull', 'manifest unknown');
    const reply = await t.call('POST', url(m.id), { config: { image: 'registry.test/hello:gone' } });
    assert.equal(reply.status, 422);
    const shown = (await t.call('GET', url(m.id))).body;
    assert.deepEqual([shown.state, shown.instance_id, shown.config.image], ['created', m.instance_id, 'registry.test/hello:1']);
  });
});
