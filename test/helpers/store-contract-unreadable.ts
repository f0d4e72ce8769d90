/**
 * The Store contract, continued: rows of volumes, snapshots, versions and events
 * whose documents are not the records they should hold (a hand edit, a torn write,
 * an older hangar) are skipped by every read, as machine rows are, and listed by
 * listUnreadableRecords; no read throws because of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VolumeRecord, VolumeSnapshotRecord } from '../../src/domain/volume.ts';
import { app, event, insert, machine, type OpenStore, versionOf, volume } from './store-fixtures.ts';

const snapshot = (id: string, volumeId: string, createdAt: number): VolumeSnapshotRecord =>
  ({ id, volumeId, appName: 'app', storedBytes: 4096, volumeSizeGb: 1, createdAt, expiresAt: null });

/** Not JSON at all, and JSON that is not the record (with the dates listings sort by, so that they reach the reader). */
const GARBLED = '{"id": "torn';
const HOLLOW = JSON.stringify({ createdAt: 1500, updatedAt: 1500, state: 'created', region: 'ams', sizeGb: 'big', hostId: 'h1', attachedMachineId: 'm-1' });

export function unreadableContract(open: OpenStore): void {
  describe('unreadable records', () => {
    /** An app with a machine (two versions, six events), four volumes (two spoiled) and three snapshots (two spoiled). */
    async function spoiled() {
      const under = await open();
      const { store, spoilDoc } = under;
      await store.createApp(app('app'));
      const m = await insert(store, machine({ id: 'm-1' }), [event('m-1', 1), event('m-1', 2)]);
      await store.commit({ machine: { ...m, version: 'V2' }, version: versionOf(m, 'V2'), events: [3, 4, 5, 6].map((n) => event('m-1', n)) });
      const at = (id: string, changed: number): VolumeRecord => ({ ...volume(id), hostId: 'h1', createdAt: 1000, ...(changed === 1000 ? {} : { updatedAt: changed }) });
      for (const [id, changed] of [['vol_a', 1000], ['vol_b', 1200], ['vol_c', 1500], ['vol_d', 2000]] as const) await store.putVolume(at(id, changed));
      for (const id of ['vol_a', 'vol_b', 'vol_c']) await store.attachVolume(id, 'm-1', (found) => found as VolumeRecord);
      for (const [id, createdAt] of [['vs_a', 10], ['vs_b', 20], ['vs_c', 30]] as const) await store.putSnapshot(snapshot(id, 'vol_a', createdAt));
      await spoilDoc('volumes', { id: 'vol_b' }, GARBLED);
      await spoilDoc('volumes', { id: 'vol_c' }, HOLLOW);
      await spoilDoc('volume_snapshots', { id: 'vs_b' }, GARBLED);
      await spoilDoc('volume_snapshots', { id: 'vs_c' }, JSON.stringify({ ...snapshot('vs_c', 'vol_a', 30), storedBytes: '4 KB' }));
      await spoilDoc('machine_versions', { machine_id: 'm-1', version: m.version }, GARBLED);
      await spoilDoc('machine_events', { id: event('m-1', 6).id }, GARBLED);
      await spoilDoc('machine_events', { id: event('m-1', 5).id }, JSON.stringify({ ...event('m-1', 5), source: 'someone' }));
      return { ...under, m };
    }

    it('listUnreadableRecords names each spoiled row, with why', async () => {
      const { store, m } = await spoiled();
      const found = await store.listUnreadableRecords();
      assert.deepEqual(found.map((u) => `${u.kind} ${u.id}`).sort(), [
        `machine_event ${event('m-1', 5).id}`, `machine_event ${event('m-1', 6).id}`, `machine_version m-1/${m.version}`,
        'volume vol_b', 'volume vol_c', 'volume_snapshot vs_b', 'volume_snapshot vs_c',
      ]);
      assert.equal(found.find((u) => u.id === 'vol_b')?.problem, 'not JSON');
      assert.equal(found.find((u) => u.id === 'vol_c')?.problem, 'the document lacks id, appName, name, encrypted, autoBackupEnabled, snapshotRetention');
      assert.equal(found.find((u) => u.id === 'vs_c')?.problem, 'storedBytes must be number');
    });

    it('listUnreadableRecords reads a table larger than it reads at once', async () => {
      const { store, spoilDoc } = await open();
      await store.createApp(app('app'));
      const m = await insert(store, machine({ id: 'm-1' }));
      await store.commit({ machine: m, events: Array.from({ length: 2100 }, (_, i) => event('m-1', i + 1)) });
      await spoilDoc('machine_events', { id: event('m-1', 2050).id }, GARBLED);
      assert.deepEqual((await store.listUnreadableRecords()).map((u) => u.id), [event('m-1', 2050).id]);
    });

    it('volume reads skip them: lookups find nothing, listings and pages go on past them', async () => {
      const { store } = await spoiled();
      assert.equal(await store.getVolume('vol_b'), null);
      assert.equal(await store.getVolume('vol_c'), null);
      assert.deepEqual((await store.listVolumes('app')).map((v) => v.id), ['vol_a', 'vol_d']);
      assert.deepEqual((await store.listVolumesOnHost('h1')).map((v) => v.id), ['vol_a', 'vol_d']);
      const orgIds = (found: Array<{ volume: { id: string } }>) => found.map(({ volume }) => volume.id);
      // Written again, vol_d comes last in the commit order, after the spoiled rows.
      await store.putVolume((await store.getVolume('vol_d')) as VolumeRecord);
      assert.deepEqual(orgIds(await store.listOrgVolumes('personal', { limit: 10 })), ['vol_a', 'vol_d']);
      const first = await store.listOrgVolumes('personal', { limit: 1 });
      assert.deepEqual(orgIds(first), ['vol_a']);
      // The next page holds the spoiled rows first: it must still be a full page.
      const after = { at: first[0]?.at as string, id: 'vol_a' };
      assert.deepEqual(orgIds(await store.listOrgVolumes('personal', { limit: 1, after })), ['vol_d']);
      assert.deepEqual(orgIds(await store.listOrgVolumes('personal', { limit: 10, includeDeleted: true, states: ['created'] })), ['vol_a', 'vol_d']);
      assert.deepEqual(await store.listRegionsInUse(), ['ams', 'local']);
    });

    it('volume writes pass them by: an attach finds no volume, a detach lets go of the readable ones', async () => {
      const { store, m } = await spoiled();
      const seen: Array<VolumeRecord | null> = [];
      await assert.rejects(store.attachVolume('vol_b', 'm-2', (found) => {
        seen.push(found);
        throw new Error('no such volume');
      }), /no such volume/);
      assert.deepEqual(seen, [null]);
      await store.commit({ machine: { ...m, state: 'destroyed', version: 'V2', rev: 2 }, events: [] });
      assert.equal((await store.getVolume('vol_a'))?.attachedMachineId, null);
      assert.deepEqual((await store.listUnreadableRecords()).filter((u) => u.kind === 'volume').map((u) => u.id), ['vol_b', 'vol_c'], 'left as they are');
    });

    it('snapshot reads skip them; expiring a volume\'s snapshots dates the readable ones', async () => {
      const { store } = await spoiled();
      assert.equal(await store.getSnapshot('vs_b'), null);
      assert.equal(await store.getSnapshot('vs_c'), null);
      assert.deepEqual((await store.listSnapshots('vol_a')).map((s) => s.id), ['vs_a']);
      await store.expireSnapshots('vol_a', 5000);
      assert.equal((await store.getSnapshot('vs_a'))?.expiresAt, 5000);
      assert.deepEqual((await store.listExpiredSnapshots(5000)).map((s) => s.id), ['vs_a']);
    });

    it('version and event reads skip them; the newest readable events fill the limit', async () => {
      const { store, m } = await spoiled();
      assert.deepEqual((await store.listVersions('m-1')).map((v) => v.version), ['V2']);
      assert.equal(await store.getVersion('m-1', m.version), null);
      assert.equal((await store.getVersion('m-1', 'V2'))?.version, 'V2');
      assert.deepEqual((await store.listEvents('m-1', 2)).map((e) => e.timestamp), [4, 3]);
      assert.deepEqual((await store.listEvents('m-1', 50)).map((e) => e.timestamp), [4, 3, 2, 1]);
      assert.equal((await store.getListing('app', 'm-1'))?.events.length, 6, 'the copies a machine row keeps are its own');
    });
  });
}
