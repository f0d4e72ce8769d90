/**
 * `/v1/platform`: regions and placements as fly-go's flaps client asks for them
 * (GetRegions, GetPlacements with its zero values and nulls), answered for one host.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { GB, ReportedSpace } from '../helpers/volumes.ts';

/** fly-go's GetPlacementsRequest with nothing set but the org: how it encodes. */
const placementsRequest = (fields: Record<string, unknown> = {}) => ({
  compute: null, region: '', count: 0, volume_name: '', volume_size_bytes: 0, weights: null, org_slug: 'personal', ...fields,
});

describe('platform: regions and placements', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-platform-'));
  const volumes = new ReportedSpace(join(dir, 'volumes'));
  let t: TestHangar;
  before(async () => {
    t = await testHangar({ dir, volumes });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const codes = async () => (await t.call('GET', '/v1/platform/regions')).body.regions.map((r: { code: string }) => r.code);

  it('lists the default region and every region a machine or volume is in', async () => {
    const regions = await t.call('GET', '/v1/platform/regions');
    assert.equal(regions.status, 200);
    assert.deepEqual(regions.body, {
      regions: [{ code: 'local', name: 'local', gateway_available: false, requires_paid_plan: false, deprecated: false, mpg_available: false }],
      nearest: 'local',
    });
    const app = await t.app('placed');
    const machine = await t.machine(app, { region: 'syd' });
    await t.call('POST', `/v1/apps/${app}/volumes`, { name: 'data', region: 'ams' });
    assert.deepEqual(await codes(), ['local', 'ams', 'syd']);
    await t.call('DELETE', `/v1/apps/${app}/machines/${machine.id}?force=true`);
    await t.waitFor(app, machine.id, 'destroyed');
    assert.deepEqual(await codes(), ['local', 'ams']);
    assert.equal((await t.call('GET', '/v1/platform/regions', undefined, { authorization: 'Bearer wrong' })).status, 401);
  });

  it('places machines on this host, in the first region of the expression it serves', async () => {
    const place = (fields: Record<string, unknown>) => t.call('POST', '/v1/platform/placements', placementsRequest(fields));
    assert.deepEqual((await place({ count: 3 })).body, { regions: [{ region: 'local', count: 3, concurrency: 3 }] });
    assert.deepEqual((await place({ count: 2, region: 'ams' })).body.regions, [{ region: 'ams', count: 2, concurrency: 2 }]);
    assert.deepEqual((await place({ count: 1, region: 'lhr,any' })).body.regions, [{ region: 'local', count: 1, concurrency: 1 }]);
    const unknown = await place({ count: 1, region: 'lhr,eu' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /region "lhr", "eu" is not served by this hangar \(it serves local, ams\)/);

    // Asked for 0: as many as fit in the host's memory.
    const shared = { cpu_kind: 'shared', cpus: 1, memory_mb: 256 };
    assert.equal((await place({ compute: shared })).body.regions[0].count, Math.floor(totalmem() / (256 * 1024 ** 2)));
    assert.equal((await place({})).body.regions[0].count, Math.floor(totalmem() / (2048 * 1024 ** 2)));
    // Volumes: no more than fit on disk at full size (15 GB usable of 20 GB free).
    const volume = (bytes: number, count: number) => place({ count, volume_name: 'data', volume_size_bytes: bytes });
    assert.equal((await volume(5 * GB, 10)).body.regions[0].count, 3);
    assert.equal((await volume(5 * GB, 2)).body.regions[0].count, 2);
    const tooBig = await volume(16 * GB, 1);
    assert.equal(tooBig.status, 422);
    assert.match(tooBig.body.error, /not enough disk space on this host for a 16.0 GB volume/);
    assert.equal((await place({ count: -1 })).status, 400);
    assert.equal((await place({ compute: 'performance-1x' })).status, 400);
  });
});
