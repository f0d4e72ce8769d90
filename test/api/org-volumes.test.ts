/**
 * `GET /v1/orgs/{org}/volumes` (Fly's Volumes_org_list): every app's volumes of an
 * organization, oldest change first, in pages, with the spec's filters.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

interface OrgVolume { id: string; app_name: string; updated_at: string; created_at: string; state: string; attached_machine_id?: string }

describe('organization volumes', () => {
  let t: TestHangar;
  /** The test's clock: real time plus what the test skips, so that each change has a time of its own. */
  let skipped = 0;
  const later = () => { skipped += 1000; };
  const ids = (body: { volumes: OrgVolume[] }) => body.volumes.map((v) => v.id);
  const list = async (query = '') => {
    const reply = await t.call('GET', `/v1/orgs/acme/volumes${query}`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body as { volumes: OrgVolume[]; next_cursor: string; last_volume_id: string; last_updated_at: string };
  };
  const volumes: Record<string, string> = {};

  before(async () => {
    t = await testHangar({ clock: { now: () => Date.now() + skipped } });
    for (const [name, org] of [['vol-a', 'acme'], ['vol-b', 'acme'], ['vol-other', 'personal']]) {
      assert.equal((await t.call('POST', '/v1/apps', { name, org_slug: org })).status, 201);
    }
    for (const [key, app, region] of [['a1', 'vol-a', 'ams'], ['b1', 'vol-b', 'syd'], ['a2', 'vol-a', 'ams'], ['o1', 'vol-other', 'ams']] as const) {
      later();
      const created = await t.call('POST', `/v1/apps/${app}/volumes`, { name: `data_${key}`, size_gb: 1, region });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      volumes[key] = created.body.id;
    }
  });
  after(() => t.close());

  it('lists the organization\'s volumes, oldest change first, in Fly\'s OrgVolume shape', async () => {
    const page = await list();
    assert.deepEqual(ids(page), [volumes.a1, volumes.b1, volumes.a2]);
    const [first] = page.volumes;
    assert.equal(first?.app_name, 'vol-a');
    assert.equal(first?.state, 'created');
    assert.equal(first?.updated_at, first?.created_at);
    assert.deepEqual(Object.keys(first ?? {}).sort(), [
      'app_name', 'auto_backup_enabled', 'created_at', 'encrypted', 'fstype', 'host_id', 'host_status', 'id', 'name', 'region',
      'size_gb', 'snapshot_retention', 'state', 'type', 'updated_at', 'zone',
    ]);
    assert.equal(page.next_cursor, '');
    assert.equal(page.last_volume_id, volumes.a2);
    assert.equal(page.last_updated_at, page.volumes[2]?.updated_at);
    assert.deepEqual(await list('?summary=true'), page);
    assert.deepEqual((await t.call('GET', '/v1/orgs/nobody/volumes')).body, { volumes: [], next_cursor: '', last_volume_id: '', last_updated_at: '' });
  });

  it('moves a volume to the end when it changes: extended, attached, let go of by a destroyed machine', async () => {
    later();
    assert.equal((await t.call('PUT', `/v1/apps/vol-a/volumes/${volumes.a1}/extend`, { size_gb: 2 })).status, 200);
    assert.deepEqual(ids(await list()), [volumes.b1, volumes.a2, volumes.a1]);
    later();
    const machine = await t.machine('vol-b', { skip_launch: true, region: 'syd', config: { image: 'registry.test/hello:1', mounts: [{ volume: volumes.b1, path: '/data' }] } });
    const attached = await list();
    assert.deepEqual(ids(attached), [volumes.a2, volumes.a1, volumes.b1]);
    assert.equal(attached.volumes[2]?.attached_machine_id, machine.id);
    later();
    assert.equal((await t.call('DELETE', `/v1/apps/vol-b/machines/${machine.id}?force=true`)).status, 200);
    await t.waitFor('vol-b', machine.id, 'destroyed');
    const detached = await list();
    assert.equal(detached.volumes[2]?.id, volumes.b1);
    assert.equal(detached.volumes[2]?.attached_machine_id, undefined);
    assert.ok(Date.parse(detached.volumes[2]?.updated_at ?? '') > Date.parse(attached.volumes[2]?.updated_at ?? ''), 'the detach is a change');
  });

  it('pages with limit and cursor, and filters by updated_after, region, state and include_deleted', async () => {
    later();
    assert.equal((await t.call('DELETE', `/v1/apps/vol-a/volumes/${volumes.a2}`)).status, 200);
    const all = await list();
    assert.deepEqual(ids(all), [volumes.a1, volumes.b1]);
    assert.deepEqual(ids(await list('?include_deleted=true')), [volumes.a1, volumes.b1, volumes.a2]);
    assert.deepEqual(ids(await list('?include_deleted=true&state=destroyed')), [volumes.a2]);
    assert.deepEqual(ids(await list('?region=syd')), [volumes.b1]);
    const first = await list('?limit=1');
    assert.deepEqual(ids(first), [volumes.a1]);
    assert.notEqual(first.next_cursor, '');
    const second = await list(`?limit=1&cursor=${first.next_cursor}`);
    assert.deepEqual(ids(second), [volumes.b1]);
    assert.deepEqual(ids(await list(`?limit=1&cursor=${second.next_cursor}`)), []);
    assert.deepEqual(ids(await list(`?updated_after=${encodeURIComponent(all.volumes[0]?.updated_at ?? '')}`)), [volumes.b1]);
  });

  it('answers bad paging input with 400', async () => {
    for (const query of ['?cursor=garbage', '?updated_after=yesterday', '?limit=0', '?limit=ten']) {
      const reply = await t.call('GET', `/v1/orgs/acme/volumes${query}`);
      assert.equal(reply.status, 400, query);
      assert.equal(typeof reply.body.error, 'string');
    }
  });
});
