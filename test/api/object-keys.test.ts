/**
 * User-chosen keys that name members every JavaScript object inherits
 * (`constructor`, `toString`, …) are stored and answered like any other key;
 * `__proto__`, which hangar's JSON parser refuses in every request body, is a
 * 400 that names where it was, and nothing is stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TOKEN, testHangar, type TestHangar } from '../helpers/hangar.ts';

const INHERITED = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', '__lookupSetter__'];

describe('keys named like Object.prototype members', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('keys');
  });
  after(() => t.close());

  const raw = (method: string, url: string, payload: string) => t.hangar.app.inject({
    method: method as 'POST', url, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload,
  });

  it('stores and echoes env, metadata and check names faithfully through create, show, list, versions and update', async () => {
    const env = Object.fromEntries(INHERITED.map((key) => [key, `env-${key}`]));
    const metadata = Object.fromEntries(INHERITED.map((key) => [key, `meta-${key}`]));
    const checks = { constructor: { type: 'tcp', port: 8080, interval: '15s', timeout: '2s' } };
    const created = await t.machine(app, { skip_launch: true, config: { image: 'registry.test/hello:1', env, metadata, checks } });
    const id = created.id;
    for (const config of [
      created.config,
      (await t.call('GET', `/v1/apps/${app}/machines/${id}`)).body.config,
      (await t.call('GET', `/v1/apps/${app}/machines`)).body.find((m: { id: string }) => m.id === id).config,
      (await t.call('GET', `/v1/apps/${app}/machines/${id}/versions`)).body[0].user_config,
    ]) {
      assert.deepEqual(config.env, env);
      assert.deepEqual(config.metadata, metadata);
      assert.deepEqual(config.checks, checks);
    }
    const updated = await t.call('POST', `/v1/apps/${app}/machines/${id}`, { config: created.config, skip_launch: true });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(updated.body.config.env, env);
    assert.deepEqual(updated.body.config.metadata, metadata);
  });

  it('refuses "__proto__" as an env key (or anywhere in a body) with 400 naming where it was, creating nothing', async () => {
    const before = (await t.call('GET', `/v1/apps/${app}/machines`)).body.length;
    const reply = await raw('POST', `/v1/apps/${app}/machines`, '{"config":{"image":"registry.test/hello:1","env":{"__proto__":"x","A":"1"}}}');
    assert.equal(reply.statusCode, 400, reply.body);
    const body = JSON.parse(reply.body);
    assert.match(body.error, /"__proto__" at config\.env/);
    const nested = await raw('POST', `/v1/apps/${app}/machines`, '{"config":{"image":"registry.test/hello:1","__proto__":{"image":"other"}}}');
    assert.equal(nested.statusCode, 400, nested.body);
    assert.match(JSON.parse(nested.body).error, /"__proto__" at config\b/);
    const ctor = await raw('POST', `/v1/apps/${app}/machines`, '{"config":{"image":"registry.test/hello:1","constructor":{"prototype":{"image":"other"}}}}');
    assert.equal(ctor.statusCode, 400, ctor.body);
    assert.match(JSON.parse(ctor.body).error, /"constructor" holding "prototype" at config/);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines`)).body.length, before);
    const broken = await raw('POST', `/v1/apps/${app}/machines`, '{"config":');
    assert.equal(broken.statusCode, 400);
    assert.doesNotMatch(JSON.parse(broken.body).error, /__proto__/);
  });

  it('answers an ip assignment type named like an inherited member as an unknown type', async () => {
    for (const type of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
      const reply = await t.call('POST', `/v1/apps/${app}/ip_assignments`, { type });
      assert.equal(reply.status, 400);
      assert.match(reply.body.error, /^type must be one of v4, shared_v4, v6/, `type ${type}: ${reply.body.error}`);
    }
  });
});
