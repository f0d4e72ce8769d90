import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('machine memory', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('mem');
  });
  after(() => t.close());

  it('reads, limits and reclaims a running machine\'s memory through the driver', async () => {
    const m = await t.machine(app, { config: { image: 'r.test/a:1', guest: { memory_mb: 512 } } });
    await t.waitFor(app, m.id, 'started');
    const url = `/v1/apps/${app}/machines/${m.id}/memory`;
    const read = await t.call('GET', url);
    assert.equal(read.body.limit_mb, 512);
    assert.ok(read.body.available_mb < 512);
    const limited = await t.call('PUT', url, { limit_mb: 256 });
    assert.equal(limited.body.limit_mb, 256);
    assert.equal((await t.call('GET', url)).body.limit_mb, 256);
    const reclaimed = await t.call('POST', `${url}/reclaim`, { amount_mb: 64 });
    assert.equal(reclaimed.body.actual_mb, 64);
    assert.equal((await t.call('GET', url)).body.limit_mb, 192);
  });

  it('refuses limits outside the guest, bad amounts, and machines not started', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const url = `/v1/apps/${app}/machines/${m.id}/memory`;
    assert.equal((await t.call('PUT', url, { limit_mb: 1024 })).status, 400);
    assert.equal((await t.call('PUT', url, { limit_mb: 64 })).status, 400);
    assert.equal((await t.call('PUT', url, { limit_mb: '256' })).status, 400);
    assert.equal((await t.call('POST', `${url}/reclaim`, { amount_mb: 0 })).status, 400);
    const stopped = await t.machine(app, { skip_launch: true });
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${stopped.id}/memory`)).status, 412);
  });
});

describe('organization machines', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());

  it('lists the machines of every app in the org, oldest update first, in pages', async () => {
    await t.call('POST', '/v1/apps', { name: 'org-a', org_slug: 'acme' });
    await t.call('POST', '/v1/apps', { name: 'org-b', org_slug: 'acme' });
    await t.call('POST', '/v1/apps', { name: 'other', org_slug: 'elsewhere' });
    const ids: string[] = [];
    for (const app of ['org-a', 'org-b', 'org-a']) ids.push((await t.machine(app, { skip_launch: true })).id);
    await t.machine('other', { skip_launch: true });
    await t.call('POST', `/v1/apps/org-a/machines/${ids[0]}/cordon`);

    const all = await t.call('GET', '/v1/orgs/acme/machines');
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.machines.map((m: { id: string }) => m.id), [ids[1], ids[2], ids[0]]);
    assert.deepEqual(all.body.machines.map((m: { app_name: string }) => m.app_name), ['org-b', 'org-a', 'org-a']);
    assert.equal(all.body.next_cursor, '');
    assert.equal(all.body.last_machine_id, ids[0]);
    assert.equal(all.body.machines[0].config.image, 'registry.test/hello:1');

    const first = await t.call('GET', '/v1/orgs/acme/machines?limit=2&summary=true');
    assert.equal(first.body.machines.length, 2);
    assert.equal(first.body.machines[0].config, undefined);
    const second = await t.call('GET', `/v1/orgs/acme/machines?limit=2&cursor=${first.body.next_cursor}`);
    assert.deepEqual(second.body.machines.map((m: { id: string }) => m.id), [ids[0]]);

    const since = await t.call('GET', `/v1/orgs/acme/machines?updated_after=${encodeURIComponent(all.body.machines[1].updated_at)}`);
    assert.deepEqual(since.body.machines.map((m: { id: string }) => m.id), [ids[0]]);
    assert.equal((await t.call('GET', '/v1/orgs/acme/machines?cursor=garbage')).status, 400);
    assert.equal((await t.call('GET', '/v1/orgs/acme/machines?updated_after=yesterday')).status, 400);
  });
});
