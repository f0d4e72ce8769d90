/** The Store contract, continued: volumes, their snapshots, and apps' public host ports. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VolumeRecord, VolumeSnapshotRecord } from '../../src/domain/volume.ts';
import { AppGoneError, LimitError, StaleWriteError } from '../../src/store/errors.ts';
import { app, insert, machine, type OpenStore, volume } from './store-fixtures.ts';

const snapshot = (id: string, volumeId: string, createdAt: number): VolumeSnapshotRecord =>
  ({ id, volumeId, appName: 'app', storedBytes: 4096, volumeSizeGb: 1, createdAt, expiresAt: null });

/** A check as the control plane makes: the volume must exist and be free (or attached to this machine). */
const attachable = (machineId: string) => (found: VolumeRecord | null): VolumeRecord => {
  if (!found) throw new Error('no such volume');
  if (found.attachedMachineId && found.attachedMachineId !== machineId) throw new Error(`attached to ${found.attachedMachineId}`);
  return found;
};

export function volumeContract(open: OpenStore): void {
  describe('volumes', () => {
    it('putVolume inserts or replaces; listVolumes lists an app\'s by id', async () => {
      const { store } = await open();
      await store.putVolume(volume('vol_b'));
      await store.putVolume(volume('vol_a'));
      await store.putVolume({ ...volume('vol_o'), appName: 'other' });
      await store.putVolume({ ...volume('vol_b'), sizeGb: 3 });
      assert.deepEqual(await store.getVolume('vol_b'), { ...volume('vol_b'), sizeGb: 3 });
      assert.equal(await store.getVolume('vol_x'), null);
      assert.deepEqual((await store.listVolumes('app')).map((v) => [v.id, v.sizeGb]), [['vol_a', 1], ['vol_b', 3]]);
      assert.deepEqual(await store.listVolumes('nobody'), []);
    });

    it('insertVolume refuses with LimitError once the app has maxLive volumes not destroyed, and AppGoneError for an app gone or being deleted', async () => {
      const { store, spoilDoc } = await open();
      await store.createApp(app('app'));
      await store.putVolume({ ...volume('vol_0'), state: 'destroyed' });
      await store.insertVolume({ ...volume('vol_1'), state: 'creating' }, 3);
      await store.insertVolume(volume('vol_2'), 3);
      assert.equal((await store.getVolume('vol_1'))?.state, 'creating');
      await store.putVolume(volume('vol_x'));
      // A row that holds no volume still counts: it may stand for a file.
      await spoilDoc('volumes', { id: 'vol_x' }, '{"id": "torn');
      await assert.rejects(store.insertVolume(volume('vol_3'), 3), (error) =>
        error instanceof LimitError && error.message === 'app app has 3 volumes, the most hangar allows per app (3)');
      assert.equal(await store.getVolume('vol_3'), null);
      await store.createApp(app('other'));
      await store.insertVolume({ ...volume('vol_o'), appName: 'other' }, 3);
      await assert.rejects(store.insertVolume({ ...volume('vol_n'), appName: 'nope' }, 3), (error) => error instanceof AppGoneError && error.why === 'missing');
      await store.markAppDeleting('other');
      await assert.rejects(store.insertVolume({ ...volume('vol_d'), appName: 'other' }, 3), (error) => error instanceof AppGoneError && error.why === 'deleting');
      assert.equal(await store.getVolume('vol_d'), null);
    });

    it('insertVolume from two stores at once keeps to maxLive: of 20 racing, 5 are inserted', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      await store.createApp(app('app'));
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? store : other).insertVolume({ ...volume(`vol_${String(i).padStart(2, '0')}`), state: 'creating' }, 5)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
      for (const refused of results.filter((r) => r.status === 'rejected')) assert.ok(refused.reason instanceof LimitError, String(refused.reason));
      assert.equal((await store.listVolumes('app')).length, 5);
    });

    it('finishVolume writes the volume made, or drops its record, only while it is being created', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const creating = (id: string): VolumeRecord => ({ ...volume(id), state: 'creating' });
      await store.insertVolume(creating('vol_1'), 10);
      assert.equal(await store.finishVolume('vol_1', { ...volume('vol_1'), updatedAt: 2000 }), true);
      assert.deepEqual(await store.getVolume('vol_1'), { ...volume('vol_1'), updatedAt: 2000 });
      assert.equal(await store.finishVolume('vol_1', null), false, 'a volume made is not dropped');
      assert.ok(await store.getVolume('vol_1'));
      await store.insertVolume(creating('vol_2'), 10);
      assert.equal(await store.finishVolume('vol_2', null), true);
      assert.equal(await store.getVolume('vol_2'), null);
      // Taken meanwhile (by an app's deletion): the create finds it no longer being created.
      await store.insertVolume(creating('vol_3'), 10);
      await store.putVolume({ ...creating('vol_3'), state: 'destroyed' });
      assert.equal(await store.finishVolume('vol_3', volume('vol_3')), false);
      assert.equal((await store.getVolume('vol_3'))?.state, 'destroyed');
      assert.equal(await store.finishVolume('vol_x', volume('vol_x')), false);
      assert.equal(await store.getVolume('vol_x'), null);
    });

    it('attachVolume attaches what the check accepts; a refusal is the check\'s error and changes nothing', async () => {
      const { store } = await open();
      await store.putVolume(volume('vol_1'));
      const seen: Array<VolumeRecord | null> = [];
      await store.attachVolume('vol_1', 'm-1', (found) => { seen.push(found); return attachable('m-1')(found); });
      assert.deepEqual(seen, [volume('vol_1')]);
      assert.equal((await store.getVolume('vol_1'))?.attachedMachineId, 'm-1');
      await assert.rejects(store.attachVolume('vol_1', 'm-2', attachable('m-2')), /attached to m-1/);
      await assert.rejects(store.attachVolume('vol_x', 'm-2', attachable('m-2')), /no such volume/);
      assert.equal((await store.getVolume('vol_1'))?.attachedMachineId, 'm-1');
    });

    it('attachVolume of one volume from two stores at once: the second check sees the first attach', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      await store.putVolume(volume('vol_1'));
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? store : other).attachVolume('vol_1', `m-${i}`, attachable(`m-${i}`))));
      const won = results.flatMap((r, i) => r.status === 'fulfilled' ? [i] : []);
      assert.equal(won.length, 1);
      assert.equal((await store.getVolume('vol_1'))?.attachedMachineId, `m-${won[0]}`);
    });

    it('detachVolumes detaches every volume of that machine, and no other', async () => {
      const { store } = await open();
      for (const id of ['vol_1', 'vol_2', 'vol_3']) await store.putVolume(volume(id));
      await store.attachVolume('vol_1', 'm-1', attachable('m-1'));
      await store.attachVolume('vol_2', 'm-1', attachable('m-1'));
      await store.attachVolume('vol_3', 'm-2', attachable('m-2'));
      await store.detachVolumes('m-1');
      assert.deepEqual((await store.listVolumes('app')).map((v) => v.attachedMachineId), [null, null, 'm-2']);
      assert.deepEqual(await store.getVolume('vol_1'), volume('vol_1'));
      await store.attachVolume('vol_1', 'm-3', attachable('m-3'));
    });

    it('detachVolumes with keep detaches that machine\'s other volumes only', async () => {
      const { store } = await open();
      for (const id of ['vol_1', 'vol_2', 'vol_3']) await store.putVolume(volume(id));
      await store.attachVolume('vol_1', 'm-1', attachable('m-1'));
      await store.attachVolume('vol_2', 'm-1', attachable('m-1'));
      await store.attachVolume('vol_3', 'm-2', attachable('m-2'));
      await store.detachVolumes('m-1', ['vol_2', 'vol_3']);
      assert.deepEqual((await store.listVolumes('app')).map((v) => v.attachedMachineId), [null, 'm-1', 'm-2']);
      await store.detachVolumes('m-1', []);
      assert.deepEqual((await store.listVolumes('app')).map((v) => v.attachedMachineId), [null, null, 'm-2']);
    });
  });

  describe('an organization\'s volumes', () => {
    /** Volumes of apps in two organizations, written in this order; their own times say another (a process's clock is not the commit order). */
    async function orgVolumes(store: Awaited<ReturnType<OpenStore>>['store']): Promise<void> {
      await store.createApp(app('app-a', 'acme'));
      await store.createApp(app('app-b', 'acme'));
      await store.createApp(app('app-o', 'other'));
      const put = (id: string, appName: string, at: number, extra: Partial<VolumeRecord> = {}) =>
        store.putVolume({ ...volume(id), appName, createdAt: 1000, ...(at === 1000 ? {} : { updatedAt: at }), ...extra });
      await put('vol_a1', 'app-a', 3000);
      await put('vol_a2', 'app-a', 1000, { region: 'syd' });
      await put('vol_b1', 'app-b', 2000);
      await put('vol_b2', 'app-b', 2000);
      await put('vol_gone', 'app-a', 2500, { state: 'destroyed' });
      await put('vol_o1', 'app-o', 1500);
    }
    const ids = (found: Array<{ volume: VolumeRecord }>) => found.map(({ volume: v }) => v.id);

    it('listOrgVolumes lists the organization\'s live volumes in the order of their last commits, in pages', async () => {
      const { store } = await open();
      await orgVolumes(store);
      const all = await store.listOrgVolumes('acme', { limit: 100 });
      assert.deepEqual(ids(all), ['vol_a1', 'vol_a2', 'vol_b1', 'vol_b2']);
      assert.deepEqual(all[0]?.volume, { ...volume('vol_a1'), appName: 'app-a', updatedAt: 3000 });
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 2 })), ['vol_a1', 'vol_a2']);
      const second = all[1] as { volume: VolumeRecord; at: string };
      const after = { at: second.at, id: second.volume.id };
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 2, after })), ['vol_b1', 'vol_b2']);
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, updatedAfter: 2000 })), ['vol_a1']);
      assert.deepEqual(ids(await store.listOrgVolumes('nobody', { limit: 100 })), []);
      // A write moves a volume to the end: a reader resuming from where it was sees it again.
      await store.putVolume({ ...(all[0]?.volume as VolumeRecord), sizeGb: 2 });
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, after })), ['vol_b1', 'vol_b2', 'vol_a1']);
      await store.attachVolume('vol_a2', 'm-1', (v) => v as VolumeRecord);
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, after })), ['vol_b1', 'vol_b2', 'vol_a1', 'vol_a2']);
      assert.deepEqual(await store.listOrgVolumes('acme', { limit: 100, after: { at: 'not a place', id: 'vol_a1' } }), []);
    });

    it('listOrgVolumes filters by region and state, and shows deleted volumes only when asked; never one being created', async () => {
      const { store } = await open();
      await orgVolumes(store);
      await store.insertVolume({ ...volume('vol_new'), appName: 'app-a', state: 'creating' }, 10);
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, states: ['creating'], includeDeleted: true })), []);
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, includeDeleted: true })), ['vol_a1', 'vol_a2', 'vol_b1', 'vol_b2', 'vol_gone']);
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, region: 'syd' })), ['vol_a2']);
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, states: ['destroyed'], includeDeleted: true })), ['vol_gone']);
      assert.deepEqual(ids(await store.listOrgVolumes('acme', { limit: 100, states: ['destroyed'] })), []);
    });
  });

  describe('volumes of a destroyed machine', () => {
    it('a commit that destroys a machine detaches its volumes in the same write; a refused one does not', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const m = await insert(store, machine());
      for (const id of ['vol_1', 'vol_2']) await store.putVolume(volume(id));
      await store.attachVolume('vol_1', 'm-1', attachable('m-1'));
      await store.attachVolume('vol_2', 'm-2', attachable('m-2'));
      await assert.rejects(store.commit({ machine: { ...m, rev: 0, state: 'destroyed' }, events: [] }), StaleWriteError);
      assert.equal((await store.getVolume('vol_1'))?.attachedMachineId, 'm-1');
      const stopped = await store.commit({ machine: m, events: [] });
      assert.equal((await store.getVolume('vol_1'))?.attachedMachineId, 'm-1', 'a machine not destroyed keeps its volume');
      await store.commit({ machine: { ...stopped, state: 'destroyed' }, events: [] });
      assert.deepEqual(await store.getVolume('vol_1'), volume('vol_1'));
      assert.equal((await store.getVolume('vol_2'))?.attachedMachineId, 'm-2');
    });

    it('a volume let go of by a destroyed machine is dated by that commit (its last change moves only forward)', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const m = await insert(store, machine());
      await store.putVolume(volume('vol_1'));
      await store.attachVolume('vol_1', 'm-1', attachable('m-1'));
      await store.commit({ machine: { ...m, state: 'destroyed', updatedAt: 7000 }, events: [] });
      assert.deepEqual(await store.getVolume('vol_1'), { ...volume('vol_1'), updatedAt: 7000 });
    });
  });

  describe('volume snapshots', () => {
    it('putSnapshot, getSnapshot; listSnapshots oldest first; deleteSnapshot', async () => {
      const { store } = await open();
      await store.putSnapshot(snapshot('vs_b', 'vol_1', 20));
      await store.putSnapshot(snapshot('vs_c', 'vol_1', 10));
      await store.putSnapshot(snapshot('vs_a', 'vol_1', 20));
      await store.putSnapshot(snapshot('vs_o', 'vol_2', 5));
      assert.deepEqual(await store.getSnapshot('vs_b'), snapshot('vs_b', 'vol_1', 20));
      assert.equal(await store.getSnapshot('vs_x'), null);
      assert.deepEqual((await store.listSnapshots('vol_1')).map((s) => s.id), ['vs_c', 'vs_a', 'vs_b']);
      await store.deleteSnapshot('vs_a');
      assert.equal(await store.getSnapshot('vs_a'), null);
      assert.deepEqual((await store.listSnapshots('vol_1')).map((s) => s.id), ['vs_c', 'vs_b']);
    });

    it('expireSnapshots dates every snapshot of the volume; listExpiredSnapshots finds those whose time is up', async () => {
      const { store } = await open();
      await store.putSnapshot(snapshot('vs_1', 'vol_1', 10));
      await store.putSnapshot(snapshot('vs_2', 'vol_1', 20));
      await store.putSnapshot(snapshot('vs_3', 'vol_2', 30));
      assert.deepEqual(await store.listExpiredSnapshots(Number.MAX_SAFE_INTEGER), []);
      await store.expireSnapshots('vol_1', 5000);
      assert.deepEqual(await store.getSnapshot('vs_1'), { ...snapshot('vs_1', 'vol_1', 10), expiresAt: 5000 });
      assert.equal((await store.getSnapshot('vs_3'))?.expiresAt, null);
      assert.deepEqual(await store.listExpiredSnapshots(4999), []);
      assert.deepEqual((await store.listExpiredSnapshots(5000)).map((s) => s.id).sort(), ['vs_1', 'vs_2']);
      assert.deepEqual((await store.listExpiredSnapshots(5000)).map((s) => s.expiresAt), [5000, 5000]);
    });
  });

  describe('public ports', () => {
    it('allocatePublicPort keeps an app\'s host port, chooses among those no app holds, and throws when none is left', async () => {
      const { store } = await open();
      const first = await store.allocatePublicPort('app', 5432, () => 20000);
      assert.deepEqual(first, { appName: 'app', port: 5432, hostPort: 20000 });
      assert.deepEqual(await store.allocatePublicPort('app', 5432, () => 20999), first, 'the port it has');
      let taken: number[] = [];
      const second = await store.allocatePublicPort('other', 5432, (set) => { taken = [...set]; return 20001; });
      assert.deepEqual(taken, [20000]);
      assert.equal(second.hostPort, 20001);
      await assert.rejects(store.allocatePublicPort('other', 6379, () => undefined), /no host port left/);
      assert.equal((await store.allocatePublicPort('other', 6379, (set) => { taken = [...set].sort(); return 20002; })).hostPort, 20002);
      assert.deepEqual(taken, [20000, 20001]);
    });

    it('releasePublicPort gives the port up: the next allocation chooses anew', async () => {
      const { store } = await open();
      await store.allocatePublicPort('app', 5432, () => 20000);
      await store.releasePublicPort('app', 5432);
      let taken: number[] = [1];
      assert.equal((await store.allocatePublicPort('app', 5432, (set) => { taken = [...set]; return 20005; })).hostPort, 20005);
      assert.deepEqual(taken, []);
    });

    it('allocations from two stores at once never give one host port twice', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      const lowestFree = (set: ReadonlySet<number>) => {
        for (let port = 20000; ; port++) if (!set.has(port)) return port;
      };
      const got = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? store : other).allocatePublicPort(`app-${i}`, 80, lowestFree)));
      assert.equal(new Set(got.map((p) => p.hostPort)).size, 10);
    });
  });
}
