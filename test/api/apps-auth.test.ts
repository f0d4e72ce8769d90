import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, TOKEN, type TestHangar } from '../helpers/hangar.ts';

describe('apps', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());

  it('creates (201), lists by org, shows and deletes apps', async () => {
    const created = await t.call('POST', '/v1/apps?wait=true', { name: 'my-app', org_slug: 'personal', network: 'default' });
    assert.equal(created.status, 201);
    assert.equal(typeof created.body.id, 'string');
    assert.equal(typeof created.body.created_at, 'number');
    await t.call('POST', '/v1/apps', { name: 'team-app', org_slug: 'team' });
    const listed = await t.call('GET', '/v1/apps?org_slug=personal');
    assert.deepEqual(listed.body.apps.map((a: { name: string }) => a.name), ['my-app']);
    assert.equal(listed.body.total_apps, 1);
    const shown = await t.call('GET', '/v1/apps/my-app');
    assert.equal(shown.body.name, 'my-app');
    assert.deepEqual(shown.body.organization, { name: 'personal', slug: 'personal' });
    assert.equal(shown.body.machine_count, 0);
    const m = await t.machine('my-app');
    await t.waitFor('my-app', m.id, 'started');
    assert.equal((await t.call('GET', '/v1/apps/my-app')).body.machine_count, 1);
    const second = await t.machine('my-app', { config: { image: 'registry.test/hello:1' }, skip_launch: true });
    await t.waitFor('my-app', second.id, 'created');
    assert.deepEqual((await t.call('GET', '/v1/apps/my-app')).body.machine_states, { created: 1, started: 1 }, 'its machines by state');
    assert.equal((await t.call('DELETE', `/v1/apps/my-app/machines/${second.id}`)).status, 200);
    assert.equal((await t.call('DELETE', '/v1/apps/my-app')).status, 202);
    assert.equal((await t.call('GET', '/v1/apps/my-app')).status, 404);
    assert.equal(t.driver.vmState(m.id), 'absent');
  });

  it('refuses a taken name with 422 name_taken and a bad name with 400', async () => {
    await t.call('POST', '/v1/apps', { name: 'taken' });
    const again = await t.call('POST', '/v1/apps', { name: 'taken' });
    assert.equal(again.status, 422);
    assert.deepEqual(again.body.status, 'name_taken');
    assert.equal((await t.call('POST', '/v1/apps', { name: 'Bad Name!' })).status, 400);
    assert.equal((await t.call('POST', '/v1/apps', {})).status, 400);
  });
});

describe('authentication and errors', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());
  const raw = (headers: Record<string, string>, url = '/v1/apps?org_slug=personal') => t.hangar.app.inject({ method: 'GET', url, headers });

  it('accepts Bearer and FlyV1 tokens', async () => {
    assert.equal((await raw({ authorization: `Bearer ${TOKEN}` })).statusCode, 200);
    assert.equal((await raw({ authorization: `FlyV1 ${TOKEN}` })).statusCode, 200);
  });

  it('answers 401 with an error body for a missing or wrong token', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${TOKEN}` }] as Array<Record<string, string>>) {
      const reply = await raw(headers);
      assert.equal(reply.statusCode, 401);
      assert.match(JSON.parse(reply.body).error, /unauthorized/);
    }
    assert.equal((await raw({}, '/v1/apps/x/machines')).statusCode, 401);
  });

  it('answers malformed JSON with 400 and unknown routes with 404, in the error shape', async () => {
    const bad = await t.hangar.app.inject({ method: 'POST', url: '/v1/apps', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: '{"name":' });
    assert.equal(bad.statusCode, 400);
    assert.equal(typeof JSON.parse(bad.body).error, 'string');
    const missing = await raw({ authorization: `Bearer ${TOKEN}` }, '/v1/nothing-here');
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(Object.keys(JSON.parse(missing.body)).sort(), ['error', 'status']);
  });

  it('serves its own OpenAPI document without a token', async () => {
    const reply = await t.hangar.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(reply.statusCode, 200);
    const doc = JSON.parse(reply.body);
    assert.equal(doc.openapi, '3.0.3');
    assert.ok(doc.paths['/v1/apps/{app_name}/machines/{machine_id}/suspend'].post);
    assert.equal(doc.paths['/v1/apps/{app_name}/machines'].post.operationId, 'Machines_create');
  });
});
