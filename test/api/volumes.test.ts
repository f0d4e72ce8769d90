import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { flyGoCreate, MB, readAt, writeAt } from '../helpers/volumes.ts';

describe('volumes', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('vols');
  });
  after(() => t.close());
  const url = (path = '') => `/v1/apps/${app}/volumes${path}`;

  it('creates an ext4 file, lists, shows, updates, extends and deletes', async () => {
    const created = await t.call('POST', url(), { name: 'pg_data', size_gb: 2, region: 'ams' });
    assert.equal(created.status, 200);
    const volume = created.body;
    assert.match(volume.id, /^vol_[a-z0-9]{16}$/);
    assert.deepEqual([volume.name, volume.size_gb, volume.region, volume.state, volume.fstype], ['pg_data', 2, 'ams', 'created', 'ext4']);
    const file = join(t.dir, 'volumes', `${volume.id}.ext4`);
    assert.equal(statSync(file).size, 2 * 1024 ** 3);
    assert.deepEqual((await t.call('GET', url())).body.map((v: { id: string }) => v.id), [volume.id]);
    assert.equal((await t.call('GET', url(`/${volume.id}`))).body.name, 'pg_data');
    assert.equal((await t.call('PUT', url(`/${volume.id}`), { snapshot_retention: 10 })).body.snapshot_retention, 10);
    const extended = await t.call('PUT', url(`/${volume.id}/extend`), { size_gb: 3 });
    assert.deepEqual([extended.body.volume.size_gb, extended.body.needs_restart], [3, false]);
    assert.equal(statSync(file).size, 3 * 1024 ** 3);
    assert.equal((await t.call('PUT', url(`/${volume.id}/extend`), { size_gb: 2 })).status, 400);
    assert.equal((await t.call('DELETE', url(`/${volume.id}`))).body.state, 'destroyed');
    assert.deepEqual((await t.call('GET', url())).body, []);
    assert.equal((await t.call('GET', url(`/${volume.id}`))).body.state, 'destroyed');
    assert.equal((await t.call('DELETE', url(`/${volume.id}`))).status, 404);
  });

  it('rejects bad names and sizes, creating nothing', async () => {
    assert.equal((await t.call('POST', url(), { name: 'Bad Name' })).status, 400);
    assert.equal((await t.call('POST', url(), { name: 'ok', size_gb: 0 })).status, 400);
    assert.equal((await t.call('POST', url(), { name: 'ok', size_gb: 501 })).status, 400);
    assert.deepEqual((await t.call('GET', url())).body, []);
  });

  it('takes fly-go\'s explicit nulls as "not given" on create and update', async () => {
    const created = await t.call('POST', url(), flyGoCreate('from_go'));
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const volume = created.body;
    assert.deepEqual([volume.size_gb, volume.encrypted, volume.snapshot_retention, volume.auto_backup_enabled, volume.fstype, volume.region],
      [1, true, 5, true, 'ext4', 'local']);
    const updated = await t.call('PUT', url(`/${volume.id}`), { snapshot_retention: null, auto_backup_enabled: null });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual([updated.body.snapshot_retention, updated.body.auto_backup_enabled], [5, true]);
    const retention = await t.call('PUT', url(`/${volume.id}`), { snapshot_retention: 14, auto_backup_enabled: null });
    assert.deepEqual([retention.body.snapshot_retention, retention.body.auto_backup_enabled], [14, true]);
    const sized = await t.call('POST', url(), { ...flyGoCreate('sized_go', 2), compute: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } });
    assert.equal(sized.body.size_gb, 2);
    await t.call('DELETE', url(`/${volume.id}`));
    await t.call('DELETE', url(`/${sized.body.id}`));
  });

  it('still refuses values of the wrong type, null or not', async () => {
    for (const bad of [{ size_gb: '3' }, { encrypted: 'yes' }, { snapshot_retention: 1.5 }, { auto_backup_enabled: 0 }, { fstype: 4 },
      { source_volume_id: 7 }, { compute: 'shared-cpu-1x' }, { require_unique_zone: 'no' }, { fstype: 'raw' }, { snapshot_retention: 0 }]) {
      const reply = await t.call('POST', url(), { ...flyGoCreate('typed'), ...bad });
      assert.equal(reply.status, 400, `${JSON.stringify(bad)}: ${JSON.stringify(reply.body)}`);
    }
    assert.equal((await t.call('POST', url(), { ...flyGoCreate('typed'), name: null })).status, 400);
    const volume = (await t.call('POST', url(), flyGoCreate('typed'))).body;
    for (const bad of [{ snapshot_retention: '5' }, { auto_backup_enabled: 'true' }, { snapshot_retention: 0 }, { snapshot_retention: 61 }]) {
      assert.equal((await t.call('PUT', url(`/${volume.id}`), bad)).status, 400, JSON.stringify(bad));
    }
    await t.call('DELETE', url(`/${volume.id}`));
    assert.deepEqual((await t.call('GET', url())).body, []);
  });

  it('echoes the volume\'s name, size and encryption in the machine\'s mount, as Fly does', async () => {
    const volume = (await t.call('POST', url(), { ...flyGoCreate('echoed', 2), encrypted: false })).body;
    const machine = await t.machine(app, { config: { image: 'registry.test/hello:1', mounts: [{ volume: volume.id, path: '/data' }] } });
    const expected = { volume: volume.id, path: '/data', name: 'echoed', size_gb: 2, encrypted: false };
    assert.deepEqual(machine.config.mounts, [expected]);
    assert.deepEqual((await t.call('GET', `/v1/apps/${app}/machines/${machine.id}`)).body.config.mounts, [expected]);
    await t.waitFor(app, machine.id, 'started');
    await t.call('PUT', url(`/${volume.id}/extend`), { size_gb: 3 });
    // flyctl sends back what it read; a stale or made-up size is replaced by the volume's.
    const updated = await t.call('POST', `/v1/apps/${app}/machines/${machine.id}`, {
      config: { image: 'registry.test/hello:2', mounts: [{ volume: volume.id, path: '/data', name: 'other', size_gb: 9, encrypted: true }] },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(updated.body.config.mounts, [{ ...expected, size_gb: 3 }]);
    const versions = (await t.call('GET', `/v1/apps/${app}/machines/${machine.id}/versions`)).body;
    assert.equal(versions.length, 2);
    await t.call('DELETE', `/v1/apps/${app}/machines/${machine.id}?force=true`);
    await t.waitFor(app, machine.id, 'destroyed');
    await t.call('DELETE', url(`/${volume.id}`));
  });

  it('forks a volume with source_volume_id: a sparse copy of its data, attached or not, at least as large', async () => {
    const source = (await t.call('POST', url(), { ...flyGoCreate('origin', 2), encrypted: false })).body;
    const sourceFile = join(t.dir, 'volumes', `${source.id}.ext4`);
    writeAt(sourceFile, 1536 * MB, 'written by the machine');
    const machine = await t.machine(app, { config: { image: 'registry.test/hello:1', mounts: [{ volume: source.id, path: '/data' }] } });

    const fork = await t.call('POST', url(), { ...flyGoCreate('origin'), source_volume_id: source.id });
    assert.equal(fork.status, 200, JSON.stringify(fork.body));
    assert.notEqual(fork.body.id, source.id);
    assert.deepEqual([fork.body.size_gb, fork.body.encrypted, fork.body.attached_machine_id], [2, false, undefined]);
    const forkFile = join(t.dir, 'volumes', `${fork.body.id}.ext4`);
    assert.equal(readAt(forkFile, 1536 * MB, 22), 'written by the machine');
    assert.equal(statSync(forkFile).size, 2 * 1024 ** 3);
    assert.ok(statSync(forkFile).blocks * 512 < 100 * MB, `the fork stays sparse: ${statSync(forkFile).blocks * 512} bytes`);
    // Writes to one after the fork are not seen by the other.
    writeAt(sourceFile, 1536 * MB, 'written after the fork');
    assert.equal(readAt(forkFile, 1536 * MB, 22), 'written by the machine');

    const larger = await t.call('POST', url(), { ...flyGoCreate('bigger', 3), source_volume_id: source.id, region: 'ams' });
    assert.deepEqual([larger.body.size_gb, larger.body.region], [3, 'ams']);
    assert.equal(statSync(join(t.dir, 'volumes', `${larger.body.id}.ext4`)).size, 3 * 1024 ** 3);
    assert.equal(readAt(join(t.dir, 'volumes', `${larger.body.id}.ext4`), 1536 * MB, 22), 'written after the fork');

    const smaller = await t.call('POST', url(), { ...flyGoCreate('smaller', 1), source_volume_id: source.id });
    assert.equal(smaller.status, 400);
    const unknown = await t.call('POST', url(), { ...flyGoCreate('nothing'), source_volume_id: 'vol_nonexistent00000' });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /volume not found: vol_nonexistent00000/);
    const elsewhere = await t.app('vols-other');
    const foreign = await t.call('POST', `/v1/apps/${elsewhere}/volumes`, { ...flyGoCreate('foreign'), source_volume_id: source.id });
    assert.equal(foreign.status, 404);

    await t.call('DELETE', `/v1/apps/${app}/machines/${machine.id}?force=true`);
    await t.waitFor(app, machine.id, 'destroyed');
    for (const id of [source.id, fork.body.id, larger.body.id]) assert.equal((await t.call('DELETE', url(`/${id}`))).status, 200);
    assert.deepEqual((await t.call('GET', url())).body, []);
  });

  it('attaches to one machine at a time, refuses deletion while attached, outlives the machine', async () => {
    const volume = (await t.call('POST', url(), { name: 'data' })).body;
    const mounts = [{ volume: volume.id, path: '/data' }];
    const m = await t.machine(app, { config: { image: 'registry.test/hello:1', mounts } });
    assert.equal((await t.call('GET', url(`/${volume.id}`))).body.attached_machine_id, m.id);
    const second = await t.call('POST', `/v1/apps/${app}/machines`, { name: 'second', config: { image: 'registry.test/hello:1', mounts } });
    assert.equal(second.status, 409);
    assert.match(second.body.error, /already attached to machine/);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines`)).body.some((x: { name: string }) => x.name === 'second'), false);
    const missing = await t.call('POST', `/v1/apps/${app}/machines`, { config: { image: 'registry.test/hello:1', mounts: [{ volume: 'vol_nonexistent00000', path: '/d' }] } });
    assert.equal(missing.status, 404);
    assert.equal((await t.call('DELETE', url(`/${volume.id}`))).status, 412);
    await t.waitFor(app, m.id, 'started');
    await t.call('DELETE', `/v1/apps/${app}/machines/${m.id}?force=true`);
    await t.waitFor(app, m.id, 'destroyed');
    const after = (await t.call('GET', url(`/${volume.id}`))).body;
    assert.equal(after.attached_machine_id, undefined);
    assert.equal(after.state, 'created');
    const next = await t.machine(app, { config: { image: 'registry.test/hello:1', mounts } });
    assert.equal((await t.call('GET', url(`/${volume.id}`))).body.attached_machine_id, next.id);
  });
});
