import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('metadata', () => {
  let t: TestHangar;
  let app: string;
  let id: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('meta');
    id = (await t.machine(app, { skip_launch: true, config: { image: 'r.test/a:1', metadata: { team: 'core' } } })).id;
  });
  after(() => t.close());
  const url = (path = '') => `/v1/apps/${app}/machines/${id}/metadata${path}`;

  it('shows, gets, sets and deletes keys', async () => {
    assert.deepEqual((await t.call('GET', url())).body, { team: 'core' });
    assert.equal((await t.call('POST', url('/env'), { value: 'prod' })).status, 204);
    assert.deepEqual((await t.call('GET', url('/env'))).body, { value: 'prod' });
    assert.equal((await t.call('DELETE', url('/env'))).status, 204);
    const missing = await t.call('GET', url('/env'));
    assert.equal(missing.status, 404);
    assert.equal((await t.call('DELETE', url('/env'))).status, 404);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${id}`)).body.config.metadata.team, 'core');
  });

  it('merges with PATCH (null deletes) and replaces with PUT', async () => {
    assert.equal((await t.call('PATCH', url(), { metadata: { a: '1', b: '2' } })).status, 204);
    assert.deepEqual((await t.call('GET', url())).body, { team: 'core', a: '1', b: '2' });
    await t.call('PATCH', url(), { metadata: { a: null } });
    assert.deepEqual((await t.call('GET', url())).body, { team: 'core', b: '2' });
    assert.equal((await t.call('PUT', url(), { metadata: { only: 'this' } })).status, 204);
    assert.deepEqual((await t.call('GET', url())).body, { only: 'this' });
  });

  it('refuses a stale machine_version with 412 and bad input with 400, changing nothing', async () => {
    const stale = await t.call('PUT', url(), { metadata: { x: 'y' }, machine_version: '01JSTALE000000000000000000' });
    assert.equal(stale.status, 412);
    assert.equal((await t.call('POST', url('/bad key!'), { value: 'v' })).status, 400);
    assert.equal((await t.call('POST', url('/k'), { value: 5 })).status, 400);
    assert.equal((await t.call('PUT', url(), { metadata: 'nope' })).status, 400);
    assert.deepEqual((await t.call('GET', url())).body, { only: 'this' });
  });
});
