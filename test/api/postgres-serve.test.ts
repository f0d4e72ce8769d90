/**
 * A hangar (fake driver) on a PostgreSQL store: the Machines API works the same, and a
 * hangar started again on the same database finds everything the first one wrote.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { postgresSkipReason, startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

const skip = postgresSkipReason();

describe('a hangar on PostgreSQL', { skip }, () => {
  let server: TestPostgres;
  let url: string;
  let t: TestHangar | undefined;
  before(async () => {
    server = await startTestPostgres();
    url = await server.createDatabase();
  });
  after(async () => {
    await t?.close();
    await server?.stop();
  });
  // One instance restarted (as a data directory keeps its instance id), not a second hangar on the database.
  const start = async () => testHangar({ store: await PostgresStore.open({ url, poolSize: 5 }), delays: { bootMs: 20, stopMs: 20 }, instanceId: 'i-00000000000000aa' });

  let web: { id: string; instance_id: string };
  let db: { id: string };
  let nonce: string;

  it('creates an app and machines, starts, waits, stops, and lists by metadata', async () => {
    t = await start();
    const app = await t.app('pg-app');
    web = await t.machine(app, { name: 'web-1', config: { image: 'r.test/a:1', metadata: { role: 'web' } } });
    db = await t.machine(app, { skip_launch: true, config: { image: 'r.test/a:1', metadata: { role: 'db' } } });
    assert.equal((await t.waitFor(app, web.id, 'started')).status, 200);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${web.id}/stop`)).status, 200);
    assert.equal((await t.waitFor(app, web.id, 'stopped')).status, 200);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${web.id}/start`)).status, 200);
    assert.equal((await t.waitFor(app, web.id, 'started')).status, 200);
    const listed = await t.call('GET', `/v1/apps/${app}/machines?metadata.role=web`);
    assert.deepEqual(listed.body.map((m: { id: string }) => m.id), [web.id]);
    assert.ok(listed.body[0].events.length > 0, 'listings carry recent events');
    const taken = await t.call('POST', `/v1/apps/${app}/machines`, { name: 'web-1', config: { image: 'r.test/a:1' } });
    assert.equal(taken.status, 422, JSON.stringify(taken.body));
    assert.equal(taken.body.status, 'name_taken');
  });

  it('holds a lease: calls without its nonce are refused, with it they work', async () => {
    const call = (t as TestHangar).call;
    const lease = await call('POST', `/v1/apps/pg-app/machines/${web.id}/lease`, { ttl: 600 });
    assert.equal(lease.status, 201);
    nonce = lease.body.data.nonce;
    assert.equal((await call('POST', `/v1/apps/pg-app/machines/${web.id}/cordon`)).status, 409);
    assert.equal((await call('POST', `/v1/apps/pg-app/machines/${web.id}/cordon`, undefined, { 'fly-machine-lease-nonce': nonce })).status, 200);
    assert.equal((await call('PATCH', `/v1/apps/pg-app/machines/${db.id}/metadata`, { metadata: { tier: 'gold' } })).status, 204);
  });

  it('a hangar started again on the same database finds everything', async () => {
    const before = (await (t as TestHangar).call('GET', `/v1/apps/pg-app/machines/${web.id}`)).body;
    await t?.close();
    t = await start();
    const again = await t.call('GET', `/v1/apps/pg-app/machines/${web.id}`);
    assert.equal(again.status, 200);
    assert.equal(again.body.instance_id, web.instance_id);
    assert.equal(again.body.cordoned, true);
    assert.equal(again.body.name, 'web-1');
    // Recovery may add events of its own (the fake driver starts with no VMs): the old ones follow them.
    const ids = again.body.events.map((e: { id: string }) => e.id);
    for (const old of before.events.slice(0, 5)) assert.ok(ids.includes(old.id), `event ${old.id} kept`);
    assert.equal((await t.call('GET', `/v1/apps/pg-app/machines/${web.id}/lease`)).body.data.nonce, nonce);
    assert.deepEqual((await t.call('GET', `/v1/apps/pg-app/machines/${db.id}/metadata`)).body, { role: 'db', tier: 'gold' });
    assert.deepEqual((await t.call('GET', '/v1/apps/pg-app/machines?metadata.tier=gold')).body.map((m: { id: string }) => m.id), [db.id]);
    const apps = await t.call('GET', '/v1/apps?org_slug=personal');
    assert.equal(apps.body.apps.find((a: { name: string }) => a.name === 'pg-app')?.machine_count, 2);
    assert.equal(Object.values(apps.body.apps.find((a: { name: string }) => a.name === 'pg-app')?.machine_states ?? {}).reduce((sum: number, n) => sum + Number(n), 0), 2, 'its machines by state, on PostgreSQL too');
    const stopped = await t.call('POST', `/v1/apps/pg-app/machines/${db.id}/start`);
    assert.equal(stopped.status, 200);
    assert.equal((await t.waitFor('pg-app', db.id, 'started')).status, 200);
  });
});
