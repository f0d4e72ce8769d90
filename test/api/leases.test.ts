import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('leases', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('leased');
  });
  after(() => t.close());
  const url = (id: string, action = '') => `/v1/apps/${app}/machines/${id}${action}`;

  it('creates (201, wrapped), shows, refreshes with the nonce header, releases', async () => {
    const m = await t.machine(app, { skip_launch: true });
    const created = await t.call('POST', url(m.id, '/lease'), { ttl: 30, description: 'deploy' });
    assert.equal(created.status, 201);
    assert.equal(created.body.status, 'success');
    const { nonce, expires_at, owner, description, version } = created.body.data;
    assert.match(nonce, /^[0-9a-f]{32}$/);
    assert.equal(owner, 'hangar');
    assert.equal(description, 'deploy');
    assert.ok(Math.abs(expires_at - (Date.now() / 1000 + 30)) < 5);
    assert.equal(version, m.instance_id, 'the machine\'s current version');
    assert.equal((await t.call('GET', url(m.id, '/lease'))).body.data.nonce, nonce);

    const refreshed = await t.call('POST', url(m.id, '/lease'), { ttl: 120 }, { 'fly-machine-lease-nonce': nonce });
    assert.equal(refreshed.body.data.nonce, nonce);
    assert.ok(refreshed.body.data.expires_at > expires_at + 60);

    const taken = await t.call('POST', url(m.id, '/lease'), { ttl: 30 });
    assert.equal(taken.status, 409);
    assert.match(taken.body.error, /lease currently held by hangar/);

    assert.equal((await t.call('DELETE', url(m.id, '/lease'), undefined, { 'fly-machine-lease-nonce': 'wrong' })).status, 409);
    const released = await t.call('DELETE', url(m.id, '/lease'), undefined, { 'fly-machine-lease-nonce': nonce });
    assert.deepEqual(released.body, { status: 'success', data: { ok: true } });
    assert.equal((await t.call('GET', url(m.id, '/lease'))).status, 404);
    assert.match((await t.call('GET', url(m.id, '/lease'))).body.error, /lease not found/);
  });

  it('takes ttl from the query string when there is no body', async () => {
    const m = await t.machine(app, { skip_launch: true });
    const created = await t.call('POST', url(m.id, '/lease?ttl=120'));
    assert.equal(created.status, 201);
    assert.ok(created.body.data.expires_at - Date.now() / 1000 > 100);
  });

  it('enforces the nonce on every mutating call but metadata writes, and changes nothing when refused', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const nonce = (await t.call('POST', url(m.id, '/lease'), { ttl: 60 })).body.data.nonce;
    const calls: Array<[string, string, unknown?]> = [
      ['POST', url(m.id), { config: { image: 'r.test/b:2' } }],
      ['POST', url(m.id, '/stop')],
      ['POST', url(m.id, '/restart')],
      ['POST', url(m.id, '/suspend')],
      ['POST', url(m.id, '/cordon')],
      ['POST', url(m.id, '/uncordon')],
      ['DELETE', url(m.id, '?force=true')],
    ];
    for (const [method, path, body] of calls) {
      const reply = await t.call(method, path, body);
      assert.equal(reply.status, 409, `${method} ${path} without nonce answered ${reply.status}`);
      assert.match(reply.body.error, /lease currently held by/);
    }
    const machine = (await t.call('GET', url(m.id))).body;
    assert.equal(machine.state, 'started');
    assert.equal(machine.instance_id, m.instance_id);
    assert.equal(machine.cordoned, false);

    // fly-go's SetMetadata/DeleteMetadata send no nonce; flyctl tags machines it holds leases on.
    assert.equal((await t.call('POST', url(m.id, '/metadata/k'), { value: 'v' })).status, 204);
    assert.equal((await t.call('PATCH', url(m.id, '/metadata'), { metadata: { a: 'b' } })).status, 204);
    assert.equal((await t.call('DELETE', url(m.id, '/metadata/k'))).status, 204);
    assert.deepEqual((await t.call('GET', url(m.id, '/metadata'))).body, { a: 'b' });
    assert.equal((await t.call('PUT', url(m.id, '/metadata'), { metadata: {} })).status, 204);
    assert.equal((await t.call('GET', url(m.id))).body.instance_id, m.instance_id, 'metadata writes make no new version');

    const withNonce = { 'fly-machine-lease-nonce': nonce };
    assert.equal((await t.call('POST', url(m.id, '/cordon'), undefined, withNonce)).status, 200);
    assert.equal((await t.call('POST', url(m.id, '/stop'), undefined, withNonce)).status, 200);
    await t.waitFor(app, m.id, 'stopped');
    assert.equal((await t.call('POST', url(m.id, '/start'))).status, 409);
    assert.equal((await t.call('POST', url(m.id, '/start'), undefined, withNonce)).status, 200);
  });

  it('honours expiry: an expired lease no longer blocks and can be taken', async () => {
    const m = await t.machine(app, { skip_launch: true });
    await t.call('POST', url(m.id, '/lease'), { ttl: 1 });
    assert.equal((await t.call('POST', url(m.id, '/cordon'))).status, 409);
    await sleep(1100);
    assert.equal((await t.call('POST', url(m.id, '/cordon'))).status, 200);
    assert.equal((await t.call('GET', url(m.id, '/lease'))).status, 404);
    assert.equal((await t.call('POST', url(m.id, '/lease'), { ttl: 5 })).status, 201);
  });

  it('of 100 concurrent lease requests on one machine, exactly one wins', async () => {
    const m = await t.machine(app, { skip_launch: true });
    const replies = await Promise.all(Array.from({ length: 100 }, () => t.call('POST', url(m.id, '/lease'), { ttl: 60 })));
    const won = replies.filter((r) => r.status === 201);
    const lost = replies.filter((r) => r.status === 409);
    assert.equal(won.length, 1);
    assert.equal(lost.length, 99);
    assert.equal((await t.call('GET', url(m.id, '/lease'))).body.data.nonce, won[0]?.body.data.nonce);
  });

  it('rejects a bad ttl', async () => {
    const m = await t.machine(app, { skip_launch: true });
    assert.equal((await t.call('POST', url(m.id, '/lease?ttl=abc'))).status, 400);
    assert.equal((await t.call('POST', url(m.id, '/lease'), { ttl: -5 })).status, 400);
  });
});
