/** The Store contract for hosts and placement (see store-contract.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseHost, type HostRecord } from '../../src/domain/host.ts';
import { FencedError, type Placer, StaleWriteError } from '../../src/store/store.ts';
import { app, machine, moveTo, type OpenStore, versionOf } from './store-fixtures.ts';

const host = (id: string, region: string, extra: Partial<HostRecord> = {}): Omit<HostRecord, 'epoch' | 'cordoned'> => ({
  id, region, address: `${id}:4290`, hostNumber: 1, cpus: 4, memoryMb: 1024, diskBytes: 0, anyRegion: false, heartbeatAt: 1000, registeredAt: 1000, ...extra,
});

/** The placement rule, as control/hosts.ts applies it. */
const place: Placer = (m, hosts) => ({ ...m, hostId: chooseHost(hosts, { region: m.region, cpus: 1, memoryMb: 256 }, 1000).host.id });

export function hostContract(open: OpenStore): void {
  describe('hosts', () => {
    it('registerHost raises the epoch each time and keeps the cordon; a heartbeat with an old epoch writes nothing', async () => {
      const { store } = await open();
      const first = await store.registerHost(host('h1', 'fra'));
      assert.equal(first.epoch, 1);
      assert.equal(first.cordoned, false);
      assert.equal((await store.setHostCordoned('h1', true))?.cordoned, true);
      const second = await store.registerHost(host('h1', 'fra', { heartbeatAt: 2000 }));
      assert.equal(second.epoch, 2);
      assert.equal(second.cordoned, true);
      assert.equal(await store.heartbeatHost('h1', 1, 5000), false, 'the old epoch is fenced off');
      assert.equal((await store.listHostUsage())[0]?.host.heartbeatAt, 2000);
      assert.equal(await store.heartbeatHost('h1', 2, 6000), true);
      assert.equal((await store.listHostUsage())[0]?.host.heartbeatAt, 6000);
      assert.equal(await store.setHostCordoned('nope', true), null);
    });

    it('listHostUsage sums what machines not destroyed reserve, per host', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await store.registerHost(host('h1', 'fra'));
      await store.registerHost(host('h2', 'fra'));
      const big = machine({ id: 'm-1', region: 'fra' }, { guest: { cpu_kind: 'shared', cpus: 2, memory_mb: 512 } });
      const placed = await store.insertMachine({ machine: big, version: versionOf(big), events: [] }, Infinity, (m) => ({ ...m, hostId: 'h2' }));
      assert.equal(placed.hostId, 'h2');
      const usage = await store.listHostUsage();
      assert.deepEqual(usage.map((u) => [u.host.id, u.machines, u.reservedCpus, u.reservedMemoryMb]), [['h1', 0, 0, 0], ['h2', 1, 2, 512]]);
      assert.deepEqual(await store.getHost('h2'), usage[1], 'one host, as listed');
      assert.equal(await store.getHost('nope'), null);
      const grown = await store.commit({ machine: { ...placed, config: { ...placed.config, guest: { cpu_kind: 'shared', cpus: 4, memory_mb: 1024 } } }, events: [] });
      const after = await store.getHost('h2');
      assert.deepEqual([after?.machines, after?.reservedCpus, after?.reservedMemoryMb], [1, 4, 1024], 'a new guest size is reserved');
      await moveTo(store, grown, 'destroyed');
      assert.deepEqual((await store.listHostUsage()).map((u) => u.reservedMemoryMb), [0, 0]);
    });

    it('racing placements from two stores never overbook a host: of 12 machines of 256 MB, 8 fit on two hosts of 1024 MB', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      await store.createApp(app('app'));
      await store.registerHost(host('h1', 'fra'));
      await store.registerHost(host('h2', 'fra'));
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => {
        const m = machine({ id: `m-${i}`, region: 'fra' });
        return (i % 2 ? other : store).insertMachine({ machine: m, version: versionOf(m), events: [] }, Infinity, place);
      }));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 8);
      for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /insufficient resources/);
      assert.deepEqual((await store.listHostUsage()).map((u) => u.reservedMemoryMb), [1024, 1024]);
    });

    it('a fenced write lands only for a machine on that host, while the host keeps the epoch it was written with', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await store.registerHost(host('h1', 'fra'));
      await store.registerHost(host('h2', 'fra'));
      const on = (id: string, hostId: string) => store.insertMachine({ machine: machine({ id, region: 'fra' }), version: versionOf(machine({ id })), events: [] }, Infinity, (m) => ({ ...m, hostId }));
      const mine = await on('m-1', 'h1');
      const theirs = await on('m-2', 'h2');
      const written = await store.commit({ machine: { ...mine, state: 'starting' }, events: [], fence: { hostId: 'h1', epoch: 1 } });
      assert.equal(written.state, 'starting');
      await assert.rejects(store.commit({ machine: { ...theirs, state: 'starting' }, events: [], fence: { hostId: 'h1', epoch: 1 } }), FencedError);
      assert.equal((await store.getMachineById('m-2'))?.state, 'stopped', 'another host\'s machine is left alone');

      await store.registerHost(host('h1', 'fra'));
      await assert.rejects(store.commit({ machine: { ...written, state: 'started' }, events: [], fence: { hostId: 'h1', epoch: 1 } }), FencedError);
      assert.equal((await store.getMachineById('m-1'))?.state, 'starting', 'the old epoch wrote nothing');
      assert.equal((await store.commit({ machine: { ...written, state: 'started' }, events: [], fence: { hostId: 'h1', epoch: 2 } })).state, 'started');
      await assert.rejects(store.commit({ machine: { ...written, state: 'stopping' }, events: [], fence: { hostId: 'h1', epoch: 2 } }), StaleWriteError, 'a stale read is still stale');
    });

    it('adoptUnplacedMachines gives machines without a host this one', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const m = machine({ id: 'm-1' });
      await store.insertMachine({ machine: m, version: versionOf(m), events: [] });
      await store.registerHost(host('h1', 'fra'));
      assert.equal(await store.adoptUnplacedMachines('h1'), 1);
      assert.equal((await store.getMachineById('m-1'))?.hostId, 'h1');
      assert.equal((await store.listHostUsage())[0]?.machines, 1);
      assert.equal(await store.adoptUnplacedMachines('h1'), 0);
    });
  });
}
