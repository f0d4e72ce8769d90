/**
 * `/v1/apps/{app}/ip_assignments` as fly-go's flaps client calls it: an app's
 * public addresses are the edge proxy's, shared by every app on the host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

/** fly-go's AssignIPRequest for `fly ips allocate-v4 --shared`: every field, zero values included. */
const assignRequest = (type: string) => ({ type, region: '', org_slug: 'personal', network: '', service_name: '' });

describe('ip assignments', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('addressed');
  });
  after(() => t.close());
  const url = (path = '') => `/v1/apps/${app}/ip_assignments${path}`;

  it('lists the edge proxy\'s addresses once it listens, and answers assignments with them', async () => {
    assert.deepEqual((await t.call('GET', url())).body, { ips: [] });
    await t.proxy.listen({ http: { host: '127.0.0.1', port: 0 } });
    const listed = await t.call('GET', url());
    assert.equal(listed.status, 200);
    const proxy = { ip: '127.0.0.1', region: 'local', service_name: '', shared: true, created_at: listed.body.ips[0]?.created_at };
    assert.deepEqual(listed.body, { ips: [proxy] });
    assert.ok(Math.abs(Date.parse(proxy.created_at) - Date.now()) < 60_000, 'the app\'s creation time');

    for (const type of ['shared_v4', 'v4']) {
      const assigned = await t.call('POST', url(), assignRequest(type));
      assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
      assert.deepEqual(assigned.body, proxy);
    }
    const v6 = await t.call('POST', url(), assignRequest('v6'));
    assert.equal(v6.status, 400);
    assert.match(v6.body.error, /listens on no IPv6 address/);
    const flycast = await t.call('POST', url(), assignRequest('private_v6'));
    assert.equal(flycast.status, 400);
    assert.match(flycast.body.error, /no Flycast/);
    assert.equal((await t.call('POST', url(), assignRequest('egress_pair'))).status, 400);
    assert.equal((await t.call('POST', url(), assignRequest('v5'))).status, 400);
    assert.deepEqual((await t.call('GET', url())).body, { ips: [proxy] }, 'nothing was added');
  });

  it('refuses to release the shared address, and knows no other', async () => {
    const shared = await t.call('DELETE', url('/127.0.0.1'));
    assert.equal(shared.status, 400);
    assert.match(shared.body.error, /127\.0\.0\.1 is the edge proxy's address, shared by every app on this host/);
    assert.equal((await t.call('DELETE', url('/10.9.9.9'))).status, 404);
    assert.equal((await t.call('DELETE', url('/fdaa::1'))).status, 404);
    assert.equal((await t.call('GET', '/v1/apps/no-such-app/ip_assignments')).status, 404);
    assert.equal((await t.call('GET', url(), undefined, { authorization: 'Bearer wrong' })).status, 401);
  });
});
