/** `POST /hangar/v1/…/fork` through the API on the fake driver: children, refusals, a failed fork. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('fork through the API', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('forks');
  });
  after(() => t.close());

  const url = (id: string, action = '') => `/v1/apps/${app}/machines/${id}${action}`;
  const fork = (id: string, body?: unknown) => t.call('POST', `/hangar/v1/apps/${app}/machines/${id}/fork`, body);
  const started = async () => {
    const m = await t.machine(app, { config: { image: 'registry.test/hello:1', env: { KIND: 'parent' } } });
    await t.waitFor(app, m.id, 'started');
    return m as { id: string; private_ip: string };
  };

  it('makes count children like the parent, each resumed from its snapshot, while the parent runs on', async () => {
    const parent = await started();
    const reply = await fork(parent.id, { count: 3 });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const children = reply.body as Array<{ id: string; name: string; private_ip: string; state: string; config: { env: Record<string, string> } }>;
    assert.equal(children.length, 3);
    assert.equal(new Set([parent.id, ...children.map((c) => c.id)]).size, 4, 'each child has its own id');
    assert.equal(new Set([parent.private_ip, ...children.map((c) => c.private_ip)]).size, 4, 'and its own address');
    for (const child of children) {
      assert.equal(child.config.env.KIND, 'parent', 'a child has the parent\'s config');
      assert.equal((await t.waitFor(app, child.id, 'started')).status, 200);
      const events = (await t.call('GET', url(child.id, '/events'))).body as Array<{ type: string; status: string; request: Record<string, unknown> }>;
      assert.equal(events.find((e) => e.type === 'start')?.request.resumed, true, 'a child resumes, it does not boot');
      assert.equal(events.find((e) => e.type === 'fork')?.request.parent, parent.id);
      assert.equal((await t.call('GET', url(child.id))).body.lease, undefined, 'the fork\'s lease is gone');
    }
    const forks = t.driver.calls.filter((c) => c.op === 'fork');
    assert.deepEqual(forks.at(-1)?.detail, children.map((c) => c.id));
    assert.equal((await t.call('GET', url(parent.id))).body.state, 'started');
  });

  it('forks one child when no count is given', async () => {
    const parent = await started();
    const reply = await fork(parent.id);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.length, 1);
  });

  it('refuses a count out of range, a machine that is not started, one with a volume, and one too big to suspend', async () => {
    const parent = await started();
    for (const count of [0, 17, 1.5, 'two', -1]) {
      const reply = await fork(parent.id, { count });
      assert.equal(reply.status, 400, `count ${JSON.stringify(count)}: ${JSON.stringify(reply.body)}`);
    }
    await t.call('POST', url(parent.id, '/stop'));
    await t.waitFor(app, parent.id, 'stopped');
    const stopped = await fork(parent.id);
    assert.equal(stopped.status, 412, JSON.stringify(stopped.body));
    assert.match(stopped.body.error, /machine is stopped/);

    const volume = (await t.call('POST', `/v1/apps/${app}/volumes`, { name: 'data', size_gb: 1 })).body;
    const mounted = await t.machine(app, { config: { image: 'registry.test/hello:1', mounts: [{ volume: volume.id, path: '/data' }] } });
    await t.waitFor(app, mounted.id, 'started');
    const withVolume = await fork(mounted.id);
    assert.equal(withVolume.status, 400);
    assert.match(withVolume.body.error, /volume/);

    const big = await t.machine(app, { config: { image: 'registry.test/hello:1', guest: { cpus: 1, memory_mb: 4096 } } });
    await t.waitFor(app, big.id, 'started');
    assert.match((await fork(big.id)).body.error, /cannot fork/);
    assert.equal((await fork('0123456789abcd')).status, 404);
  });

  it('leaves no children and a running parent when the host cannot fork', async () => {
    const parent = await started();
    const before = ((await t.call('GET', `/v1/apps/${app}/machines`)).body as unknown[]).length;
    t.driver.failNext('fork', 'no room for the copy');
    const reply = await fork(parent.id, { count: 2 });
    assert.equal(reply.status, 422, JSON.stringify(reply.body));
    assert.match(reply.body.error, /no room for the copy/);
    await t.idle();
    const after = ((await t.call('GET', `/v1/apps/${app}/machines`)).body as unknown[]).length;
    assert.equal(after, before, 'the children are destroyed');
    assert.equal((await t.call('GET', url(parent.id))).body.state, 'started');
  });
});
