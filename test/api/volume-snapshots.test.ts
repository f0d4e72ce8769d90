/**
 * Volume snapshots: taken on demand (as fly-go sends it: POST, no body), listed in
 * fly-go's VolumeSnapshot shape, restored into new volumes with `snapshot_id`, kept
 * while the volume lives and for its retention days after it is deleted.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DAY_MS } from '../../src/domain/volume.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { flyGoCreate, GB, MB, readAt, writeAt } from '../helpers/volumes.ts';

describe('volume snapshots', () => {
  let t: TestHangar;
  let app: string;
  /** The test's clock: real time plus whatever the test skips ahead. */
  let skipped = 0;
  before(async () => {
    t = await testHangar({ clock: { now: () => Date.now() + skipped } });
    app = await t.app('snaps');
  });
  after(() => t.close());
  const url = (path = '') => `/v1/apps/${app}/volumes${path}`;
  const volumeFile = (id: string) => join(t.dir, 'volumes', `${id}.ext4`);
  const snapshotFile = (id: string) => join(t.dir, 'volumes', 'snapshots', `${id}.ext4`);

  it('takes a point-in-time copy of an attached volume and restores it into a new volume', async () => {
    const volume = (await t.call('POST', url(), flyGoCreate('data', 2))).body;
    const machine = await t.machine(app, { config: { image: 'registry.test/hello:1', mounts: [{ volume: volume.id, path: '/data' }] } });
    writeAt(volumeFile(volume.id), 1024 * MB, 'before the snapshot');

    const taken = await t.call('POST', url(`/${volume.id}/snapshots`));
    assert.equal(taken.status, 200, JSON.stringify(taken.body));
    writeAt(volumeFile(volume.id), 1024 * MB, 'after  the snapshot');

    const listed = await t.call('GET', url(`/${volume.id}/snapshots`));
    assert.equal(listed.status, 200);
    assert.equal(listed.body.length, 1);
    const snapshot = listed.body[0];
    assert.deepEqual(snapshot, taken.body);
    assert.match(snapshot.id, /^vs_[a-z0-9]{16}$/);
    assert.deepEqual([snapshot.status, snapshot.volume_size, snapshot.retention_days, snapshot.digest], ['created', 2 * GB, 5, '']);
    assert.ok(snapshot.size > 0 && snapshot.size < 100 * MB, `stored size ${snapshot.size}: the copy is sparse`);
    assert.ok(Math.abs(Date.parse(snapshot.created_at) - Date.now()) < 60_000);
    assert.equal(readAt(snapshotFile(snapshot.id), 1024 * MB, 19), 'before the snapshot');

    const restored = await t.call('POST', url(), { ...flyGoCreate('restored'), snapshot_id: snapshot.id });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    assert.equal(restored.body.size_gb, 2);
    assert.equal(readAt(volumeFile(restored.body.id), 1024 * MB, 19), 'before the snapshot');
    const larger = await t.call('POST', url(), { ...flyGoCreate('larger', 4), snapshot_id: snapshot.id });
    assert.equal(statSync(volumeFile(larger.body.id)).size, 4 * GB);
    assert.equal(readAt(volumeFile(larger.body.id), 1024 * MB, 19), 'before the snapshot');

    assert.equal((await t.call('POST', url(), { ...flyGoCreate('small', 1), snapshot_id: snapshot.id })).status, 400);
    const both = await t.call('POST', url(), { ...flyGoCreate('both'), snapshot_id: snapshot.id, source_volume_id: volume.id });
    assert.equal(both.status, 400);
    const unknown = await t.call('POST', url(), { ...flyGoCreate('unknown'), snapshot_id: 'vs_nonexistent000000' });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /snapshot not found/);
    const other = await t.app('snaps-other');
    assert.equal((await t.call('POST', `/v1/apps/${other}/volumes`, { ...flyGoCreate('foreign'), snapshot_id: snapshot.id })).status, 404);
    assert.equal((await t.call('GET', `/v1/apps/${other}/volumes/${volume.id}/snapshots`)).status, 404);
    assert.equal((await t.call('GET', url('/vol_nonexistent00000/snapshots'))).status, 404);
    assert.equal((await t.call('POST', url('/vol_nonexistent00000/snapshots'))).status, 404);

    await t.call('DELETE', `/v1/apps/${app}/machines/${machine.id}?force=true`);
    await t.waitFor(app, machine.id, 'destroyed');
    for (const id of [volume.id, restored.body.id, larger.body.id]) await t.call('DELETE', url(`/${id}`));
  });

  it('keeps a deleted volume\'s snapshots for its retention days, then deletes them', async () => {
    const volume = (await t.call('POST', url(), { ...flyGoCreate('kept'), snapshot_retention: 2 })).body;
    writeAt(volumeFile(volume.id), 512 * MB, 'kept');
    const first = (await t.call('POST', url(`/${volume.id}/snapshots`))).body;
    skipped += 10 * DAY_MS; // a live volume's snapshots do not expire
    const second = (await t.call('POST', url(`/${volume.id}/snapshots`))).body;
    assert.deepEqual((await t.call('GET', url(`/${volume.id}/snapshots`))).body.map((s: { id: string }) => s.id), [first.id, second.id]);
    assert.equal((await t.call('DELETE', url(`/${volume.id}`))).status, 200);
    assert.equal((await t.call('POST', url(`/${volume.id}/snapshots`))).status, 404);

    skipped += DAY_MS;
    const listed = await t.call('GET', url(`/${volume.id}/snapshots`));
    assert.deepEqual(listed.body.map((s: { id: string }) => s.id), [first.id, second.id]);
    const restored = (await t.call('POST', url(), { ...flyGoCreate('revived'), snapshot_id: first.id })).body;
    assert.equal(readAt(volumeFile(restored.id), 512 * MB, 4), 'kept');

    skipped += DAY_MS + 1;
    assert.deepEqual((await t.call('GET', url(`/${volume.id}/snapshots`))).body, []);
    assert.equal(existsSync(snapshotFile(first.id)), false);
    assert.equal(existsSync(snapshotFile(second.id)), false);
    assert.equal((await t.call('POST', url(), { ...flyGoCreate('late'), snapshot_id: first.id })).status, 404);
    await t.call('DELETE', url(`/${restored.id}`));
  });

  it('deletes an app\'s volumes and their snapshots with the app', async () => {
    const doomed = await t.app('doomed');
    const volume = (await t.call('POST', `/v1/apps/${doomed}/volumes`, flyGoCreate('data'))).body;
    const machine = await t.machine(doomed, { config: { image: 'registry.test/hello:1', mounts: [{ volume: volume.id, path: '/data' }] } });
    const snapshot = (await t.call('POST', `/v1/apps/${doomed}/volumes/${volume.id}/snapshots`)).body;
    await t.waitFor(doomed, machine.id, 'started');
    assert.equal((await t.call('DELETE', `/v1/apps/${doomed}`)).status, 202);
    assert.equal(existsSync(volumeFile(volume.id)), false);
    assert.equal(existsSync(snapshotFile(snapshot.id)), false);
    await t.app('doomed');
    assert.deepEqual((await t.call('GET', `/v1/apps/${doomed}/volumes`)).body, []);
    assert.equal((await t.call('GET', `/v1/apps/${doomed}/volumes/${volume.id}`)).status, 404);
    assert.equal((await t.call('POST', `/v1/apps/${doomed}/volumes`, { ...flyGoCreate('again'), snapshot_id: snapshot.id })).status, 404);
  });

  it('keeps snapshot records across a restart (SQLite)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-snapshots-'));
    try {
      const first = await testHangar({ dir });
      await first.app('durable');
      const volume = (await first.call('POST', '/v1/apps/durable/volumes', flyGoCreate('durable'))).body;
      const snapshot = (await first.call('POST', `/v1/apps/durable/volumes/${volume.id}/snapshots`)).body;
      await first.close();
      const second = await testHangar({ dir });
      assert.deepEqual((await second.call('GET', `/v1/apps/durable/volumes/${volume.id}/snapshots`)).body, [snapshot]);
      assert.equal((await second.call('POST', '/v1/apps/durable/volumes', { ...flyGoCreate('again'), snapshot_id: snapshot.id })).status, 200);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
