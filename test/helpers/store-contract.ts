/**
 * The Store contract: one suite of the rules `src/store/store.ts` documents, run
 * against every store (test/unit/sqlite-store.test.ts, test/unit/postgres-store.test.ts).
 * Each test gets a fresh, empty store; `reopen` gives a second store on the same
 * database, as another API replica or a restarted hangar would open it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { MachineRecord } from '../../src/domain/machine.ts';
import type { Store } from '../../src/store/store.ts';
import { AppGoneError, DuplicateError, LimitError, LiveMachinesError, StaleWriteError } from '../../src/store/errors.ts';
import { app, event, insert, machine, moveTo, type OpenStore, type StoreUnderTest, versionOf, volume } from './store-fixtures.ts';
import { hostContract } from './store-contract-hosts.ts';
import { e2bRecordContract, releaseContract } from './store-contract-releases.ts';
import { secretContract } from './store-contract-secrets.ts';
import { unreadableContract } from './store-contract-unreadable.ts';
import { volumeContract } from './store-contract-volumes.ts';

export type { OpenStore, SpoiledTable, StoreUnderTest } from './store-fixtures.ts';

/** Registers the contract's tests; `open` makes a fresh, empty store each time. */
export function storeContract(open: OpenStore): void {
  const opened: Store[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  const fresh: OpenStore = async () => {
    const under = await open();
    opened.push(under.store);
    return {
      ...under,
      async reopen() {
        const store = await under.reopen();
        opened.push(store);
        return store;
      },
    };
  };
  appContract(fresh);
  machineContract(fresh);
  listingContract(fresh);
  volumeContract(fresh);
  unreadableContract(fresh);
  hostContract(fresh);
  secretContract(fresh);
  releaseContract(fresh);
  e2bRecordContract(fresh);
}

function appContract(open: OpenStore): void {
  describe('apps', () => {
    it('createApp allocates a distinct network number per app; getApp reads the app back', async () => {
      const { store } = await open();
      const a = await store.createApp(app('a'));
      const b = await store.createApp(app('b'));
      assert.ok(Number.isInteger(a.netNumber) && a.netNumber > 0);
      assert.notEqual(a.netNumber, b.netNumber);
      assert.deepEqual(await store.getApp('a'), { ...app('a'), netNumber: a.netNumber, deleting: false });
      assert.equal(await store.getApp('c'), null);
    });

    it('createApp refuses a taken name with DuplicateError, keeping the first app', async () => {
      const { store } = await open();
      await store.createApp(app('a'));
      await assert.rejects(store.createApp({ ...app('a'), id: 'other' }), (error) => error instanceof DuplicateError && error.what === 'app');
      assert.equal((await store.getApp('a'))?.id, 'id-a');
    });

    it('createApp of one name from two stores at once: one wins, one gets DuplicateError', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      const results = await Promise.allSettled([store.createApp(app('a')), other.createApp({ ...app('a'), id: 'other' })]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const refused = results.find((r) => r.status === 'rejected');
      assert.ok(refused?.reason instanceof DuplicateError, String(refused?.reason));
    });

    it('listApps lists by name, per organization, counting machines not destroyed', async () => {
      const { store } = await open();
      for (const [name, org] of [['b', 'x'], ['a', 'y'], ['c', 'x']] as const) await store.createApp(app(name, org));
      const live = await insert(store, machine({ appName: 'b', id: 'm-1' }));
      await moveTo(store, await insert(store, machine({ appName: 'b', id: 'm-2' })), 'destroyed');
      assert.ok(live);
      assert.deepEqual((await store.listApps()).map((a) => [a.name, a.machineCount]), [['a', 0], ['b', 1], ['c', 0]]);
      assert.deepEqual((await store.listApps('x')).map((a) => a.name), ['b', 'c']);
      assert.deepEqual(await store.listApps('nobody'), []);
      assert.equal((await store.getAppWithCounts('b'))?.machineCount, 1);
      assert.equal(await store.getAppWithCounts('nope'), null);
    });

    it('markAppDeleting marks the app (null for none); no machine is inserted into it any more', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      assert.equal((await store.markAppDeleting('app'))?.deleting, true);
      assert.equal((await store.getApp('app'))?.deleting, true);
      assert.equal(await store.markAppDeleting('nope'), null);
      await assert.rejects(insert(store, machine()), (error) => error instanceof AppGoneError && error.why === 'deleting');
      await assert.rejects(insert(store, machine({ appName: 'nope' })), (error) => error instanceof AppGoneError && error.why === 'missing');
      assert.equal(await store.getMachineById('m-1'), null);
    });

    it('deleteApp refuses, deleting nothing, while a machine of the app is not destroyed', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await insert(store, machine({ id: 'm-1' }));
      await moveTo(store, await insert(store, machine({ id: 'm-2' })), 'destroyed');
      await store.putVolume(volume('vol_1'));
      await assert.rejects(store.deleteApp('app'), (error) => error instanceof LiveMachinesError && /m-1/.test(error.message) && !/m-2/.test(error.message));
      assert.ok(await store.getApp('app'));
      assert.ok(await store.getMachineById('m-1'));
      assert.ok(await store.getMachineById('m-2'));
      assert.ok(await store.getVolume('vol_1'));
    });

    it('deleteApp deletes the app and every record of it, and nothing of other apps', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await store.createApp(app('keep'));
      const gone = await insert(store, machine({ id: 'm-1' }), [event('m-1', 1)]);
      await store.commit({ machine: { ...gone, state: 'destroyed', version: 'V2' }, version: versionOf(gone, 'V2'), events: [event('m-1', 2)] });
      const kept = await insert(store, machine({ id: 'm-k', appName: 'keep' }), [event('m-k', 3)]);
      await store.putVolume(volume('vol_1'));
      await store.putVolume({ ...volume('vol_k'), appName: 'keep' });
      await store.allocatePublicPort('app', 5432, () => 20000);
      await store.allocatePublicPort('keep', 5432, () => 20001);
      await store.deleteApp('app');
      assert.equal(await store.getApp('app'), null);
      assert.equal(await store.getMachineById('m-1'), null);
      assert.deepEqual(await store.listEvents('m-1', 10), []);
      assert.deepEqual(await store.listVersions('m-1'), []);
      assert.equal(await store.getVolume('vol_1'), null);
      let taken: number[] = [];
      await store.allocatePublicPort('keep', 6000, (set) => { taken = [...set]; return 20002; });
      assert.deepEqual(taken, [20001], 'the deleted app\'s host port is free again');
      assert.deepEqual(await store.getMachineById('m-k'), kept);
      assert.equal((await store.listEvents('m-k', 10)).length, 1);
      assert.ok(await store.getVolume('vol_k'));
      await store.createApp(app('app'));
      assert.deepEqual(await store.listMachines('app', { includeDeleted: true }), [], 'a new app of the name starts empty');
    });
  });
}

function machineContract(open: OpenStore): void {
  describe('machine writes', () => {
    it('nextMachineNumber counts up, never giving a number twice, from several stores at once', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      const first = await store.nextMachineNumber();
      const second = await store.nextMachineNumber();
      assert.ok(second > first);
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).nextMachineNumber()));
      assert.equal(new Set([first, second, ...many]).size, 22);
    });

    it('insertMachine stores the machine at rev 1 with its first version and events', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const inserted = await insert(store, machine({ rev: 7 }), [event('m-1', 1), event('m-1', 2)]);
      assert.equal(inserted.rev, 1);
      assert.deepEqual(await store.getMachine('app', 'm-1'), inserted);
      assert.deepEqual(await store.getMachineById('m-1'), inserted);
      assert.equal(await store.getMachine('other', 'm-1'), null);
      assert.equal(await store.getListing('other', 'm-1'), null);
      assert.deepEqual(await store.getListing('app', 'm-1'), { machine: inserted, events: [event('m-1', 2), event('m-1', 1)] });
      assert.deepEqual(await store.listVersions('m-1'), [versionOf(inserted)]);
    });

    it('insertMachine refuses a name a machine not destroyed has, with DuplicateError; a destroyed one\'s name is free', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const first = await insert(store, machine({ id: 'm-1', name: 'web' }));
      await assert.rejects(insert(store, machine({ id: 'm-2', name: 'web' })), (error) => error instanceof DuplicateError && error.what === 'machine_name');
      assert.equal(await store.getMachineById('m-2'), null);
      await moveTo(store, first, 'destroyed');
      assert.equal((await insert(store, machine({ id: 'm-2', name: 'web' }))).name, 'web');
    });

    it('insertMachine with the id of the app as it was read refuses once an app of that name is another', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const m = machine({ id: 'm-1' });
      await store.insertMachine({ machine: m, version: versionOf(m), events: [], appId: 'id-app' });
      await moveTo(store, (await store.getMachineById('m-1')) as MachineRecord, 'destroyed');
      await store.markAppDeleting('app');
      await store.deleteApp('app');
      await store.createApp({ ...app('app'), id: 'id-again' });
      const next = machine({ id: 'm-2' });
      await assert.rejects(store.insertMachine({ machine: next, version: versionOf(next), events: [], appId: 'id-app' }),
        (error) => error instanceof AppGoneError && error.why === 'replaced');
      assert.equal(await store.getMachineById('m-2'), null);
      assert.equal((await store.insertMachine({ machine: next, version: versionOf(next), events: [], appId: 'id-again' })).id, 'm-2');
    });

    it('insertMachine refuses with LimitError when the app has maxLive machines not destroyed', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await insert(store, machine({ id: 'm-1' }), [], 2);
      const second = await insert(store, machine({ id: 'm-2' }), [], 2);
      await assert.rejects(insert(store, machine({ id: 'm-3' }), [], 2), LimitError);
      assert.equal(await store.getMachineById('m-3'), null);
      await moveTo(store, second, 'destroyed');
      await insert(store, machine({ id: 'm-3' }), [], 2);
    });

    it('insertMachine from two stores at once keeps to maxLive', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      await store.createApp(app('app'));
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => insert(i % 2 ? store : other, machine({ id: `m-${i}` }), [], 3)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof LimitError, String(r.reason));
      assert.equal((await store.listMachines('app', {})).length, 3);
    });

    it('commit writes the machine at the next rev; a commit at a stale rev is refused and writes nothing', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const v1 = await insert(store, machine(), [event('m-1', 1)]);
      const v2 = await store.commit({ machine: { ...v1, state: 'started' }, events: [event('m-1', 2)] });
      assert.equal(v2.rev, 2);
      assert.deepEqual(await store.getMachine('app', 'm-1'), v2);
      await assert.rejects(store.commit({ machine: { ...v1, state: 'suspended', version: 'V9' }, version: versionOf(v1, 'V9'), events: [event('m-1', 3)] }), StaleWriteError);
      await assert.rejects(store.commit({ machine: { ...v1, state: 'suspended' }, events: [] }), StaleWriteError);
      assert.deepEqual(await store.getMachine('app', 'm-1'), v2);
      assert.deepEqual((await store.listEvents('m-1', 10)).map((e) => e.id), [event('m-1', 2).id, event('m-1', 1).id]);
      assert.deepEqual((await store.getListing('app', 'm-1'))?.events.map((e) => e.id), [event('m-1', 2).id, event('m-1', 1).id]);
      assert.equal(await store.getVersion('m-1', 'V9'), null);
      await assert.rejects(store.commit({ machine: { ...v1, id: 'nope' }, events: [] }), StaleWriteError);
    });

    it('commits of one rev from two stores at once: exactly one wins, and only its write is kept', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      await store.createApp(app('app'));
      const v1 = await insert(store, machine());
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? store : other).commit({ machine: { ...v1, name: `writer-${i}` }, events: [event('m-1', 10 + i)] })));
      const won = results.flatMap((r, i) => r.status === 'fulfilled' ? [i] : []);
      assert.equal(won.length, 1, 'one commit wins');
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof StaleWriteError, String(r.reason));
      const stored = await other.getMachineById('m-1');
      assert.equal(stored?.name, `writer-${won[0]}`);
      assert.equal(stored?.rev, 2);
      assert.deepEqual((await store.listEvents('m-1', 20)).map((e) => e.id), [event('m-1', 10 + (won[0] as number)).id]);
    });

    it('versions: a commit may add one; listVersions is newest first; getVersion finds one', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const v1 = await insert(store, machine({ version: 'V1' }));
      const next = { ...v1, version: 'V2', config: { ...v1.config, env: { A: '1' } } };
      await store.commit({ machine: next, version: versionOf(next), events: [] });
      assert.deepEqual((await store.listVersions('m-1')).map((v) => v.version), ['V2', 'V1']);
      assert.deepEqual(await store.getVersion('m-1', 'V2'), versionOf(next));
      assert.equal(await store.getVersion('m-1', 'V3'), null);
      assert.deepEqual(await store.listVersions('nope'), []);
    });

    it('events: listEvents is newest first and limited; listings carry the newest ten, newest first', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      let m = await insert(store, machine(), [event('m-1', 1)]);
      for (let n = 2; n <= 11; n += 3) m = await store.commit({ machine: m, events: [event('m-1', n), event('m-1', n + 1), event('m-1', n + 2)] });
      m = await store.commit({ machine: { ...m, state: 'started' }, events: [] });
      const newestFirst = Array.from({ length: 13 }, (_, i) => event('m-1', 13 - i));
      assert.deepEqual(await store.listEvents('m-1', 100), newestFirst);
      assert.deepEqual(await store.listEvents('m-1', 3), newestFirst.slice(0, 3));
      assert.deepEqual((await store.getListing('app', 'm-1'))?.events, newestFirst.slice(0, 10));
      assert.deepEqual((await store.listMachines('app', {}))[0]?.events, newestFirst.slice(0, 10));
      assert.deepEqual((await store.getListings(['m-1']))[0]?.events, newestFirst.slice(0, 10));
      assert.deepEqual(await store.listEvents('nope', 10), []);
    });

    it('writes asked for at once are each kept or refused on their own', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const first = await insert(store, machine({ id: 'm-1' }));
      const second = await insert(store, machine({ id: 'm-2' }));
      const results = await Promise.allSettled([
        insert(store, machine({ id: 'm-a', name: 'same' }), [event('m-a', 1)]),
        insert(store, machine({ id: 'm-b', name: 'same' }), [event('m-b', 1)]),
        store.commit({ machine: { ...first, state: 'started' }, events: [event('m-1', 2)] }),
        store.commit({ machine: { ...second, rev: 0, state: 'started' }, events: [event('m-2', 2)] }),
        insert(store, machine({ id: 'm-c', name: 'other' })),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
      assert.ok((results[1] as PromiseRejectedResult).reason instanceof DuplicateError);
      assert.ok((results[3] as PromiseRejectedResult).reason instanceof StaleWriteError);
      assert.equal(await store.getMachineById('m-b'), null);
      assert.deepEqual(await store.listEvents('m-b', 10), [], 'nothing of a refused insert is kept');
      assert.equal((await store.getMachineById('m-1'))?.state, 'started');
      assert.equal((await store.getMachineById('m-2'))?.state, 'stopped');
      assert.deepEqual(await store.listEvents('m-2', 10), [], 'nothing of a refused commit is kept');
      assert.deepEqual((await store.listMachines('app', {})).map((l) => l.machine.id), ['m-1', 'm-2', 'm-a', 'm-c']);
    });

    it('a commit keeps of the recent events stored those that are events, as written, and drops what is not JSON', async () => {
      const { store, spoil } = await open();
      await store.createApp(app('app'));
      const first = { ...event('m-1', 1), request: { z: 'last', a: 'first', odd: 'nul \u0000 \ud800' } };
      let m = await insert(store, machine(), [first]);
      await spoil('m-1', JSON.stringify(m), `[7, ${JSON.stringify(first)}, "text"]`);
      m = await store.commit({ machine: m, events: [event('m-1', 2)] });
      const kept = (await store.getListing('app', 'm-1'))?.events ?? [];
      assert.deepEqual(kept, [event('m-1', 2), first]);
      assert.equal(JSON.stringify(kept[1]), JSON.stringify(first), 'the users\' keys in their order');
      await spoil('m-1', JSON.stringify(m), 'nope');
      await store.commit({ machine: m, events: [event('m-1', 3)] });
      assert.deepEqual((await store.getListing('app', 'm-1'))?.events, [event('m-1', 3)]);
    });

    it('events: listEvents follows the order of commits, not of event ids (stamped by clocks that may differ)', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      let m = await insert(store, machine(), [event('m-1', 7), event('m-1', 5)]);
      m = await store.commit({ machine: m, events: [event('m-1', 9), event('m-1', 8)] });
      await store.commit({ machine: m, events: [event('m-1', 2)] });
      const newestFirst = [2, 8, 9, 5, 7].map((n) => event('m-1', n));
      assert.deepEqual(await store.listEvents('m-1', 10), newestFirst);
      assert.deepEqual(await store.listEvents('m-1', 2), newestFirst.slice(0, 2));
      assert.deepEqual((await store.getListing('app', 'm-1'))?.events, newestFirst);
    });

    it('keeps documents as written: any string, the order of users\' keys', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const odd = 'quote \' " back\\slash nul \u0000 emoji \u{1F680} lone \ud800';
      const m = await insert(store, machine({}, { env: { Z: 'z', A: '1', M: '2' }, metadata: { 'z.key': odd, a: 'x' } }));
      const stored = await store.getMachineById(m.id);
      assert.equal(JSON.stringify(stored), JSON.stringify(m));
      assert.deepEqual(Object.keys(stored?.config.env ?? {}), ['Z', 'A', 'M']);
      assert.equal(stored?.config.metadata?.['z.key'], odd);
    });

    it('a lookup by a string no row holds (a NUL, a hostile id) finds nothing and throws nothing', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await insert(store, machine());
      for (const hostile of ['m-1\u0000', "m-1' OR '1'='1", '%', '']) {
        assert.equal(await store.getApp(hostile), null);
        assert.equal(await store.getMachine('app', hostile), null);
        assert.equal(await store.getMachine(hostile, 'm-1'), null);
        assert.equal(await store.getMachineById(hostile), null);
        assert.deepEqual(await store.listMachines(hostile, {}), []);
        if (hostile) assert.deepEqual(await store.listMachines('app', { region: hostile }), []);
        assert.deepEqual(await store.listMachines('app', { states: [hostile] }), []);
        assert.deepEqual(await store.listMachines('app', { metadata: { [hostile]: hostile } }), []);
        assert.deepEqual(await store.listEvents(hostile, 5), []);
        assert.equal(await store.getVersion('m-1', hostile), null);
        assert.equal(await store.getVolume(hostile), null);
        assert.equal(await store.markAppDeleting(hostile), null);
      }
      assert.equal((await store.getApp('app'))?.deleting, false);
    });

    it('another store on the same database reads what this one wrote', async () => {
      const { store, reopen } = await open();
      await store.createApp(app('app'));
      const m = await store.commit({ machine: await insert(store, machine(), [event('m-1', 1)]), events: [event('m-1', 2)] });
      await store.close();
      const again = await reopen();
      assert.deepEqual(await again.getMachineById('m-1'), m);
      assert.equal((await again.getApp('app'))?.name, 'app');
      assert.equal((await again.listEvents('m-1', 10)).length, 2);
    });
  });
}

function listingContract(open: OpenStore): void {
  /** m-B, m-a, m-c in code point order ("B" < "a"), in two regions, one destroyed, with metadata. */
  async function seeded(): Promise<{ store: Store; spoil: StoreUnderTest['spoil'] }> {
    const { store, spoil } = await open();
    await store.createApp(app('app'));
    await store.createApp(app('next'));
    await insert(store, machine({ id: 'm-c', region: 'ams', state: 'started' }, { metadata: { role: 'web', 'fly.io/x': 'a"b\u0000' } }));
    await insert(store, machine({ id: 'm-a', region: 'fra', state: 'stopped' }, { metadata: { role: 'web' } }));
    await moveTo(store, await insert(store, machine({ id: 'm-B', region: 'ams' }, { metadata: { role: 'db' } })), 'destroyed');
    await insert(store, machine({ id: 'm-n', appName: 'next', region: 'syd' }, { metadata: { role: 'web' } }));
    return { store, spoil };
  }

  describe('machine listings', () => {
    it('listMachines: by id in code point order, without destroyed machines unless asked; listMachineRevs in the same order', async () => {
      const { store } = await seeded();
      const cases: Array<[Parameters<Store['listMachines']>[1], string[]]> = [
        [{}, ['m-a', 'm-c']],
        [{ includeDeleted: true }, ['m-B', 'm-a', 'm-c']],
        [{ region: 'ams' }, ['m-c']],
        [{ region: 'ams', includeDeleted: true }, ['m-B', 'm-c']],
        [{ states: ['stopped', 'destroyed'] }, ['m-a']],
        [{ states: ['stopped', 'destroyed'], includeDeleted: true }, ['m-B', 'm-a']],
        [{ metadata: { role: 'web' } }, ['m-a', 'm-c']],
        [{ metadata: { role: 'web', 'fly.io/x': 'a"b\u0000' } }, ['m-c']],
        [{ metadata: { role: 'db' }, includeDeleted: true }, ['m-B']],
        [{ metadata: { role: 'web"' } }, []],
        [{ metadata: { rol: 'web' } }, []],
      ];
      for (const [filter, ids] of cases) {
        const listed = await store.listMachines('app', filter);
        assert.deepEqual(listed.map((l) => l.machine.id), ids, JSON.stringify(filter));
        const revs = (await store.listMachineRevs('app', filter)).map(({ id, rev }) => ({ id, rev }));
        assert.deepEqual(revs, listed.map((l) => ({ id: l.machine.id, rev: l.machine.rev })), JSON.stringify(filter));
      }
      assert.deepEqual((await store.listMachineRevs('app', { includeDeleted: true })).map((r) => r.rev), [2, 1, 1]);
    });

    it('getListings: the listings of the ids that exist', async () => {
      const { store } = await seeded();
      const found = await store.getListings(['m-n', 'nope', 'm-a']);
      assert.deepEqual(found.map((l) => l.machine.id).sort(), ['m-a', 'm-n']);
      assert.deepEqual(await store.getListings([]), []);
      const many = await store.getListings([...Array.from({ length: 1200 }, (_, i) => `x-${i}`), 'm-c']);
      assert.deepEqual(many.map((l) => l.machine.id), ['m-c']);
    });

    it('listLiveMachines, listMachinesInStates and listRegionsInUse see every app', async () => {
      const { store } = await seeded();
      await moveTo(store, await insert(store, machine({ id: 'm-r', region: 'lhr' })), 'replaced');
      await store.putVolume({ ...volume('vol_1'), region: 'cdg' });
      await store.putVolume({ ...volume('vol_2'), region: 'gru', state: 'destroyed' });
      assert.deepEqual((await store.listLiveMachines()).map((m) => m.id).sort(), ['m-a', 'm-c', 'm-n']);
      assert.deepEqual((await store.listMachinesInStates(['stopped', 'replaced'])).map((m) => m.id).sort(), ['m-a', 'm-n', 'm-r']);
      assert.deepEqual(await store.listMachinesInStates(['suspended']), []);
      assert.deepEqual(await store.listRegionsInUse(), ['ams', 'cdg', 'fra', 'syd']);
    });

    it('listOrgMachines pages an organization\'s machines in the order of their last commits, with filters', async () => {
      const { store } = await open();
      await store.createApp(app('a', 'org'));
      await store.createApp(app('b', 'org'));
      await store.createApp(app('c', 'other'));
      // Inserted in this order; their own times say another (a process's clock is not the commit order).
      const times: Array<[string, string, number]> = [['a', 'm-5', 30], ['b', 'm-4', 10], ['a', 'm-3', 20], ['b', 'm-2', 20], ['a', 'm-1', 40], ['c', 'm-9', 5]];
      for (const [appName, id, updatedAt] of times) await insert(store, machine({ appName, id, updatedAt, region: updatedAt === 20 ? 'ams' : 'fra' }));
      await moveTo(store, (await store.getMachineById('m-1')) as MachineRecord, 'destroyed');
      const pageAll = async (query: Omit<Parameters<Store['listOrgMachines']>[1], 'limit' | 'after'>, limit: number) => {
        const pages: string[][] = [];
        let after: { at: string; id: string } | undefined;
        for (;;) {
          const page = await store.listOrgMachines('org', { ...query, limit, after });
          if (page.length === 0) return pages;
          pages.push(page.map((p) => p.machine.id));
          const last = page.at(-1) as { machine: MachineRecord; at: string };
          after = { at: last.at, id: last.machine.id };
        }
      };
      assert.deepEqual(await pageAll({}, 2), [['m-5', 'm-4'], ['m-3', 'm-2']]);
      const all = await store.listOrgMachines('org', { limit: 100 });
      assert.deepEqual(all.map((p) => [p.appName, p.machine.id]), [['a', 'm-5'], ['b', 'm-4'], ['a', 'm-3'], ['b', 'm-2']]);
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100, includeDeleted: true })).map((p) => p.machine.id), ['m-5', 'm-4', 'm-3', 'm-2', 'm-1']);
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100, updatedAfter: 20 })).map((p) => p.machine.id), ['m-5']);
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100, region: 'ams' })).map((p) => p.machine.id), ['m-3', 'm-2']);
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100, states: ['destroyed'], includeDeleted: true })).map((p) => p.machine.id), ['m-1']);
      const third = all[2] as { machine: MachineRecord; at: string };
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100, after: { at: third.at, id: third.machine.id } })).map((p) => p.machine.id), ['m-2']);
      // A commit moves a machine to the end: a reader resuming from where it was sees it again.
      await store.commit({ machine: (await store.getMachineById('m-3')) as MachineRecord, events: [] });
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100, after: { at: third.at, id: third.machine.id } })).map((p) => p.machine.id), ['m-2', 'm-3']);
      const tagged = (await store.getMachineById('m-4')) as MachineRecord;
      await store.commit({ machine: { ...tagged, config: { ...tagged.config, metadata: { tier: 'gold' } } }, events: [] });
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100, metadata: { tier: 'gold' } })).map((p) => p.machine.id), ['m-4']);
      assert.deepEqual((await store.listOrgMachines('org', { limit: 100 })).map((p) => p.machine.id), ['m-5', 'm-2', 'm-3', 'm-4']);
      assert.deepEqual(await store.listOrgMachines('nobody', { limit: 100 }), []);
    });

    it('rows that hold no machine are skipped by every read, and listed by listUnreadableMachines', async () => {
      const { store, spoil } = await seeded();
      await spoil('m-a', '{"id": "m-a', '[');
      await spoil('m-c', '{"config": 7}', 'nope');
      assert.deepEqual((await store.listUnreadableMachines()).map((u) => u.id).sort(), ['m-a', 'm-c']);
      assert.ok((await store.listUnreadableMachines()).every((u) => u.problem.length > 0));
      assert.deepEqual(await store.listMachines('app', {}), []);
      assert.deepEqual(await store.listMachines('app', { metadata: { role: 'web' } }), []);
      assert.deepEqual((await store.listOrgMachines('personal', { limit: 10, metadata: { role: 'web' }, updatedAfter: 0 })).map((p) => p.machine.id), ['m-n']);
      assert.deepEqual((await store.listMachines('app', { includeDeleted: true })).map((l) => l.machine.id), ['m-B']);
      assert.equal(await store.getMachine('app', 'm-a'), null);
      assert.equal(await store.getMachineById('m-c'), null);
      assert.equal(await store.getListing('app', 'm-c'), null);
      assert.deepEqual(await store.getListings(['m-a', 'm-c']), []);
      assert.deepEqual((await store.listLiveMachines()).map((m) => m.id), ['m-n']);
      assert.deepEqual((await store.listMachinesInStates(['started', 'stopped'])).map((m) => m.id), ['m-n']);
      assert.deepEqual((await store.listOrgMachines('personal', { limit: 10 })).map((p) => p.machine.id), ['m-n']);
    });
  });
}
