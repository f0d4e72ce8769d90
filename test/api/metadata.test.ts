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

  /** Names every plain object inherits: as keys they must be like any other, never the inherited member. */
  const INHERITED = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable',
    'toLocaleString', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__'];

  it('treats keys named like Object.prototype members as ordinary keys: 404 until set, then set, read and deleted', async () => {
    const before = (await t.call('GET', url())).body;
    for (const key of [...INHERITED, '__proto__']) {
      const missing = await t.call('GET', url(`/${key}`));
      assert.equal(missing.status, 404, `GET ${key}: ${JSON.stringify(missing.body)}`);
      assert.match(missing.body.error, /not found/);
      assert.equal((await t.call('DELETE', url(`/${key}`))).status, 404, `DELETE ${key}`);
    }
    assert.deepEqual((await t.call('GET', url())).body, before);
    for (const key of INHERITED) {
      assert.equal((await t.call('POST', url(`/${key}`), { value: `v-${key}` })).status, 204, `POST ${key}`);
      assert.deepEqual((await t.call('GET', url(`/${key}`))).body, { value: `v-${key}` });
    }
    const all = (await t.call('GET', url())).body;
    for (const key of INHERITED) assert.equal(Object.getOwnPropertyDescriptor(all, key)?.value, `v-${key}`);
    const listed = await t.call('GET', `/v1/apps/${app}/machines?metadata.toString=v-toString`);
    assert.deepEqual(listed.body.map((m: { id: string }) => m.id), [id]);
    for (const key of INHERITED) {
      assert.equal((await t.call('DELETE', url(`/${key}`))).status, 204, `DELETE ${key}`);
      assert.equal((await t.call('GET', url(`/${key}`))).status, 404);
    }
    assert.deepEqual((await t.call('GET', url())).body, before);
  });

  it('takes such keys in bulk writes, and refuses "__proto__" with 400 naming it, changing nothing', async () => {
    const before = (await t.call('GET', url())).body;
    const named = Object.fromEntries(INHERITED.map((key) => [key, `b-${key}`]));
    assert.equal((await t.call('PATCH', url(), { metadata: named })).status, 204);
    assert.deepEqual((await t.call('GET', url())).body, { ...before, ...named });
    assert.equal((await t.call('PATCH', url(), { metadata: Object.fromEntries(INHERITED.map((key) => [key, null])) })).status, 204);
    assert.deepEqual((await t.call('GET', url())).body, before);
    assert.equal((await t.call('PUT', url(), { metadata: named })).status, 204);
    assert.deepEqual((await t.call('GET', url())).body, named);
    assert.deepEqual((await t.call('GET', url('/valueOf'))).body, { value: 'b-valueOf' });
    assert.equal((await t.call('PUT', url(), { metadata: before })).status, 204);
    assert.deepEqual((await t.call('GET', url())).body, before);

    const single = await t.call('POST', url('/__proto__'), { value: 'v' });
    assert.equal(single.status, 400);
    assert.match(single.body.error, /__proto__/);
    for (const method of ['PUT', 'PATCH']) {
      const reply = await t.hangar.app.inject({
        method: method as 'PUT', url: url(), headers: { authorization: 'Bearer test-token-123', 'content-type': 'application/json' },
        payload: '{"metadata":{"__proto__":"p","ok":"1"}}',
      });
      assert.equal(reply.statusCode, 400, reply.body);
      assert.match(JSON.parse(reply.body).error, /"__proto__".*metadata/);
    }
    assert.deepEqual((await t.call('GET', url())).body, before);
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
