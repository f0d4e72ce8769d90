/**
 * Volume bounds: the volumes an app may have, and sizes (create, extend, fork,
 * restore, snapshot) against the free space of the volumes' filesystem less
 * hangar's margin (5 %, at least 1 GB). The filesystem's figures are the test's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { flyGoCreate, GB, ReportedSpace } from '../helpers/volumes.ts';

describe('volume bounds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-volume-limits-'));
  const volumes = new ReportedSpace(join(dir, 'volumes'));
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar({ dir, volumes, settings: { maxVolumesPerApp: 3 } });
    app = await t.app('bounded');
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = (path = '') => `/v1/apps/${app}/volumes${path}`;

  it('refuses a volume past the app\'s limit, naming it; forks count too', async () => {
    const ids: string[] = [];
    for (const name of ['one', 'two']) ids.push((await t.call('POST', url(), flyGoCreate(name))).body.id);
    ids.push((await t.call('POST', url(), { ...flyGoCreate('three'), source_volume_id: ids[0] })).body.id);
    const fourth = await t.call('POST', url(), flyGoCreate('four'));
    assert.equal(fourth.status, 422);
    assert.match(fourth.body.error, /app bounded has 3 volumes, the most hangar allows per app \(3\)/);
    assert.equal((await t.call('POST', url(), { ...flyGoCreate('four'), source_volume_id: ids[0] })).status, 422);
    const other = await t.app('bounded-other');
    assert.equal((await t.call('POST', `/v1/apps/${other}/volumes`, flyGoCreate('elsewhere'))).status, 200);
    await t.call('DELETE', url(`/${ids.pop()}`));
    assert.equal((await t.call('POST', url(), flyGoCreate('four'))).status, 200);
    for (const volume of (await t.call('GET', url())).body) await t.call('DELETE', url(`/${volume.id}`));
  });

  it('refuses sizes over the free space less the margin: create, extend, fork, restore', async () => {
    // 20 GB free of 100 GB, 5 GB kept free: 15 GB usable.
    const tooBig = await t.call('POST', url(), flyGoCreate('huge', 16));
    assert.equal(tooBig.status, 422);
    assert.equal(tooBig.body.status, 'volume_placement_capacity');
    assert.match(tooBig.body.error, /not enough disk space for a 16 GB volume: it may need 16.0 GB, and 15.0 GB is usable \(20.0 GB free, less the 5.0 GB hangar keeps free\)/);
    assert.deepEqual((await t.call('GET', url())).body, []);

    const volume = (await t.call('POST', url(), flyGoCreate('fits', 10))).body;
    assert.equal(volume.size_gb, 10);
    // Extending needs the new size less what the file already holds (a fresh ext4 holds well under 1 GB).
    assert.equal((await t.call('PUT', url(`/${volume.id}/extend`), { size_gb: 15 })).status, 200);
    const overExtend = await t.call('PUT', url(`/${volume.id}/extend`), { size_gb: 17 });
    assert.equal(overExtend.status, 422);
    assert.match(overExtend.body.error, new RegExp(`volume ${volume.id} at 17 GB`));

    const snapshot = (await t.call('POST', url(`/${volume.id}/snapshots`))).body;
    assert.equal((await t.call('POST', url(), { ...flyGoCreate('fork'), source_volume_id: volume.id })).status, 200);
    volumes.reported = { freeBytes: 10 * GB, totalBytes: 100 * GB };
    assert.equal((await t.call('POST', url(), { ...flyGoCreate('fork2'), source_volume_id: volume.id })).status, 422);
    assert.equal((await t.call('POST', url(), { ...flyGoCreate('restored'), snapshot_id: snapshot.id })).status, 422);
    // A snapshot needs the bytes the volume holds; with less than the margin free, not even that.
    volumes.reported = { freeBytes: GB / 2, totalBytes: 10 * GB };
    const noRoom = await t.call('POST', url(`/${volume.id}/snapshots`));
    assert.equal(noRoom.status, 422);
    assert.match(noRoom.body.error, /a snapshot of volume/);
    volumes.reported = { freeBytes: 20 * GB, totalBytes: 100 * GB };
    for (const v of (await t.call('GET', url())).body) await t.call('DELETE', url(`/${v.id}`));
  });
});
