import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('wait', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar({ delays: { bootMs: 50, stopMs: 50 } });
    app = await t.app('waiting');
  });
  after(() => t.close());
  const url = (id: string, query: string) => `/v1/apps/${app}/machines/${id}/wait${query}`;

  it('returns at once when the machine is already there, and after the change otherwise', async () => {
    const m = await t.machine(app);
    const started = await t.call('GET', url(m.id, '?state=started'));
    assert.equal(started.status, 200);
    assert.deepEqual(Object.keys(started.body).sort(), ['event_id', 'ok', 'state', 'version']);
    assert.equal(started.body.ok, true);
    assert.equal(started.body.version, m.instance_id);
    const already = await t.call('GET', url(m.id, '?state=started'));
    assert.equal(already.body.state, 'started');
    const pending = t.call('GET', url(m.id, '?state=stopped&timeout=5'));
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}/stop`);
    assert.equal((await pending).body.state, 'stopped');
  });

  it('accepts several states, comma-separated or repeated, and settled', async () => {
    const m = await t.machine(app, { skip_launch: true });
    assert.equal((await t.call('GET', url(m.id, '?state=started,settled'))).body.state, 'created');
    assert.equal((await t.call('GET', url(m.id, '?state=started&state=settled'))).body.state, 'created');
    assert.equal((await t.call('GET', url(m.id, '?state=created'))).status, 400);
  });

  it('answers 408 when the timeout passes, 400 on bad input', async () => {
    const m = await t.machine(app, { skip_launch: true });
    const timedOut = await t.call('GET', url(m.id, '?state=started&timeout=1'));
    assert.equal(timedOut.status, 408);
    assert.match(timedOut.body.error, /did not reach started/);
    assert.equal((await t.call('GET', url(m.id, '?state=sleeping'))).status, 400);
    assert.equal((await t.call('GET', url(m.id, '?timeout=600'))).status, 400);
    assert.equal((await t.call('GET', url(m.id, '?timeout=soon'))).status, 400);
    assert.equal((await t.call('GET', url(m.id, '?version=01JNOSUCHVERSION0000000000'))).status, 404);
  });

  it('sees an old version as replaced, which satisfies stopped', async () => {
    const m = await t.machine(app);
    await t.call('GET', url(m.id, '?state=started'));
    const pending = t.call('GET', url(m.id, `?state=stopped&instance_id=${m.instance_id}&timeout=5`));
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { config: { image: 'r.test/new:2' } });
    const done = await pending;
    assert.equal(done.status, 200);
    assert.equal(done.body.state, 'replaced');
    assert.equal(done.body.version, m.instance_id);
  });

  it('with from_event_id counts only states reached after that event', async () => {
    const m = await t.machine(app);
    await t.call('GET', url(m.id, '?state=started'));
    const latest = (await t.call('GET', `/v1/apps/${app}/machines/${m.id}/events?limit=1`)).body[0].id;
    const pending = t.call('GET', url(m.id, `?state=started&from_event_id=${latest}&timeout=5`));
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}/restart`);
    const done = await pending;
    assert.equal(done.status, 200);
    assert.ok(done.body.event_id > latest);
  });

  it('releases 1,000 concurrent waiters on one state change', async () => {
    const m = await t.machine(app, { skip_launch: true });
    const waiters = Array.from({ length: 1000 }, () => t.call('GET', url(m.id, '?state=started&timeout=30')));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(t.hangar.control.waits.size() >= 1000, `only ${t.hangar.control.waits.size()} waiters registered`);
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}/start`);
    const replies = await Promise.all(waiters);
    assert.ok(replies.every((r) => r.status === 200 && r.body.state === 'started'));
    assert.equal(t.hangar.control.waits.size(), 0);
  });
});
