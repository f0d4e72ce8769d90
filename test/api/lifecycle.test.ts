import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { checkWedged } from '../../src/control/watchdog.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('lifecycle through the API', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('life');
  });
  after(() => t.close());

  const url = (id: string, action = '') => `/v1/apps/${app}/machines/${id}${action}`;

  it('stops with signal and timeout, and starts again with previous_state', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    assert.deepEqual((await t.call('POST', url(m.id, '/stop'), { signal: 'SIGTERM', timeout: '7s' })).body, { ok: true });
    await t.waitFor(app, m.id, 'stopped');
    const stop = t.driver.calls.find((c) => c.op === 'stop' && c.machineId === m.id);
    assert.deepEqual(stop?.detail, { signal: 'SIGTERM', timeoutMs: 7000 });
    const start = await t.call('POST', url(m.id, '/start'));
    assert.deepEqual(start.body, { previous_state: 'stopped', migrated: false, new_host: '' });
    assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
  });

  it('accepts Fly\'s curl form: Content-Type json with an empty body', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const reply = await t.hangar.app.inject({ method: 'POST', url: url(m.id, '/stop'), headers: { authorization: 'Bearer test-token-123', 'content-type': 'application/json' } });
    assert.equal(reply.statusCode, 200);
  });

  it('suspends, resumes from the snapshot once, and a stop discards the snapshot', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    assert.deepEqual((await t.call('POST', url(m.id, '/suspend'))).body, { ok: true });
    assert.equal((await t.waitFor(app, m.id, 'suspended')).body.state, 'suspended');
    const start = await t.call('POST', url(m.id, '/start'));
    assert.equal(start.body.previous_state, 'suspended');
    await t.waitFor(app, m.id, 'started');
    const events = (await t.call('GET', url(m.id, '/events'))).body;
    assert.equal(events[0].request.resumed, true);

    await t.call('POST', url(m.id, '/suspend'));
    await t.waitFor(app, m.id, 'suspended');
    await t.call('POST', url(m.id, '/stop'));
    assert.equal((await t.call('GET', url(m.id))).body.state, 'stopped');
    await t.call('POST', url(m.id, '/start'));
    await t.waitFor(app, m.id, 'started');
    assert.equal((await t.call('GET', url(m.id, '/events'))).body[0].request.resumed, false);
  });

  it('keeps a machine running when a start arrives while it is suspending', async () => {
    const slow = await testHangar({ delays: { suspendMs: 300 } });
    try {
      const name = await slow.app('slow');
      const m = await slow.machine(name);
      await slow.waitFor(name, m.id, 'started');
      assert.equal((await slow.call('POST', `/v1/apps/${name}/machines/${m.id}/suspend`)).status, 200);
      const start = await slow.call('POST', `/v1/apps/${name}/machines/${m.id}/start`);
      assert.equal(start.status, 200, JSON.stringify(start.body));
      assert.equal(start.body.previous_state, 'suspending');
      assert.equal((await slow.waitFor(name, m.id, 'started')).status, 200);
      await slow.idle();
      assert.equal(slow.driver.vmState(m.id), 'running');
      assert.equal(slow.driver.calls.filter((c) => c.machineId === m.id && c.op === 'launch').length, 1, 'no second boot');
      const events = (await slow.call('GET', `/v1/apps/${name}/machines/${m.id}/events`)).body;
      assert.deepEqual(events[0].request, { resumed: true, restart_count: 0, suspend_cancelled: true });
      assert.equal((await slow.call('GET', `/v1/apps/${name}/machines/${m.id}`)).body.state, 'started');
    } finally {
      await slow.close();
    }
  });

  it('refuses suspend with a clear reason: state, memory limit, swap, schedule', async () => {
    const stopped = await t.machine(app, { skip_launch: true });
    const wrongState = await t.call('POST', url(stopped.id, '/suspend'));
    assert.equal(wrongState.status, 412);
    assert.match(wrongState.body.error, /machine is created/);

    const big = await t.machine(app, { config: { image: 'r.test/a:1', guest: { memory_mb: 4096, cpus: 2 } } });
    await t.waitFor(app, big.id, 'started');
    const tooBig = await t.call('POST', url(big.id, '/suspend'));
    assert.equal(tooBig.status, 400);
    assert.match(tooBig.body.error, /4096 MB/);
    assert.equal((await t.call('GET', url(big.id))).body.state, 'started');

    const swap = await t.machine(app, { config: { image: 'r.test/a:1', init: { swap_size_mb: 256 } } });
    await t.waitFor(app, swap.id, 'started');
    assert.match((await t.call('POST', url(swap.id, '/suspend'))).body.error, /swap/);
  });

  it('restarts a started machine', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    assert.equal((await t.call('POST', url(m.id, '/restart?signal=SIGTERM&timeout=3'))).status, 200);
    await t.waitFor(app, m.id, 'started');
    assert.equal(t.driver.calls.filter((c) => c.op === 'launch' && c.machineId === m.id).length, 2);
  });

  it('applies the restart policy when the main process exits by itself', async () => {
    const m = await t.machine(app, { config: { image: 'r.test/a:1', restart: { policy: 'on-failure', max_retries: 1 } } });
    await t.waitFor(app, m.id, 'started');
    t.driver.exitMachine(m.id, 3);
    await sleep(20);
    await t.waitFor(app, m.id, 'started');
    let events = (await t.call('GET', url(m.id, '/events'))).body;
    const exit = events.find((e: { type: string }) => e.type === 'exit');
    assert.equal(exit.request.exit_event.exit_code, 3);
    assert.equal(exit.request.exit_event.restarting, true);
    assert.equal(exit.request.restart_count, 1);
    t.driver.exitMachine(m.id, 3);
    await t.waitFor(app, m.id, 'stopped');
    events = (await t.call('GET', url(m.id, '/events'))).body;
    assert.equal(events[0].request.exit_event.restarting, false);
  });

  it('marks a machine failed when its boot fails, and it can be started again', async () => {
    t.driver.failNext('launch', 'kernel panic');
    const m = await t.machine(app);
    assert.equal((await t.waitFor(app, m.id, 'failed')).status, 200);
    const events = (await t.call('GET', url(m.id, '/events'))).body;
    assert.match(events[0].request.error, /kernel panic/);
    await t.call('POST', url(m.id, '/start'));
    assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
  });

  it('answers 422 and keeps no machine when the image cannot be prepared', async () => {
    t.driver.failNext('prepare', 'manifest unknown');
    const reply = await t.call('POST', `/v1/apps/${app}/machines`, { name: 'broken', config: { image: 'r.test/missing:1' } });
    assert.equal(reply.status, 422);
    assert.match(reply.body.error, /manifest unknown/);
    const listed = (await t.call('GET', `/v1/apps/${app}/machines`)).body;
    assert.equal(listed.some((m: { name: string }) => m.name === 'broken'), false);
  });

  it('destroys a machine that exits with auto_destroy', async () => {
    const m = await t.machine(app, { config: { image: 'r.test/a:1', auto_destroy: true, restart: { policy: 'no' } } });
    await t.waitFor(app, m.id, 'started');
    t.driver.exitMachine(m.id, 0);
    assert.equal((await t.waitFor(app, m.id, 'destroyed')).status, 200);
  });
});

describe('wedged machines', () => {
  it('flags a machine stuck in starting past the threshold, once, with an event', async () => {
    const t = await testHangar({ delays: { bootMs: 400 }, settings: { wedgedAfterMs: { starting: 100 } } });
    try {
      const app = await t.app('slow');
      const m = await t.machine(app);
      assert.equal(m.state, 'starting');
      await sleep(150);
      assert.deepEqual(await checkWedged(t.hangar.control), [m.id]);
      assert.deepEqual(await checkWedged(t.hangar.control), []);
      const events = (await t.call('GET', `/v1/apps/${app}/machines/${m.id}/events`)).body;
      assert.equal(events[0].type, 'wedged');
      assert.equal(events[0].status, 'starting');
      await t.waitFor(app, m.id, 'started');
    } finally {
      await t.close();
    }
  });
});
