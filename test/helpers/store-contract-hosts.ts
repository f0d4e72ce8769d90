/** The Store contract for hosts and placement (see store-contract.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { privateIp } from '../../src/domain/address.ts';
import { chooseHost, type HostIdentity, type HostUsage } from '../../src/domain/host.ts';
import type { MachineRecord } from '../../src/domain/machine.ts';
import type { VolumeRecord } from '../../src/domain/volume.ts';
import { machineIpv4, parseIpv4Range } from '../../src/network/layout.ts';
import type { Placer, Store } from '../../src/store/store.ts';
import { FencedError, HostRefusedError, StaleWriteError } from '../../src/store/errors.ts';
import { app, machine, moveTo, type OpenStore, versionOf } from './store-fixtures.ts';

const INSTANCE = 'i-00000000000000a1';
const host = (id: string, region: string, extra: Partial<HostIdentity> = {}): HostIdentity => ({
  id, region, address: `${id}:4290`, hostNumber: 1, cpus: 4, memoryMb: 1024, diskBytes: 0, anyRegion: false, instanceId: INSTANCE, ...extra,
});
const ALIVE = { takeOver: false, freshMs: 10_000 };
const register = (store: Store, id: string, region: string, extra: Partial<HostIdentity> = {}) => store.registerHost(host(id, region, extra), ALIVE);

/** The placement rule, as control/hosts.ts applies it. */
const place: Placer = (m, hosts) => ({ ...m, hostId: chooseHost(hosts, { region: m.region, cpus: 1, memoryMb: 256 }, 10_000).host.id });

/** The smallest range a host may have: 256 machine addresses (its last /24 is the transit link and the gateway). */
const SMALL_RANGE = '10.9.0.0/23';
/** The placement rule with the machine's private address, as control/hosts.ts makes it (app 1, host 1). */
const placeWithAddress: Placer = (m, hosts, number) => ({ ...place(m, hosts, number), privateIp: privateIp(1, 1, number) });
/** The IPv4 address a machine's guest gets: the one recorded with it, else (machines recorded before there was one) the one its number gives. */
const ipv4Of = (m: MachineRecord | null | undefined) => m && machineIpv4(m, parseIpv4Range(SMALL_RANGE));

export function hostContract(open: OpenStore): void {
  describe('hosts', () => {
    it('registerHost raises the epoch each time and keeps the cordon; a heartbeat with an old epoch writes nothing', async () => {
      const { store } = await open();
      const first = await register(store, 'h1', 'fra');
      assert.equal(first.epoch, 1);
      assert.equal(first.cordoned, false);
      assert.equal(first.state, 'active');
      assert.equal(first.instanceId, INSTANCE);
      assert.ok(first.silentMs >= 0 && first.silentMs < 1000, `just heard from: ${first.silentMs}`);
      assert.equal((await store.setHostCordoned('h1', true))?.cordoned, true);
      const second = await register(store, 'h1', 'fra');
      assert.equal(second.epoch, 2, 'the same instance registers again at once (a restart)');
      assert.equal(second.cordoned, true);
      assert.equal(await store.heartbeatHost('h1', 1), false, 'the old epoch is fenced off');
      await sleep(20);
      assert.equal(await store.heartbeatHost('h1', 2), true);
      const beat = (await store.listHostUsage())[0]?.host;
      assert.ok(beat && beat.heartbeatAt > second.heartbeatAt, 'the heartbeat is written by the store\'s clock');
      assert.equal(await store.setHostCordoned('nope', true), null);
    });

    it('registerHost refuses a host another instance holds and was heard from lately, unless taking over', async () => {
      const { store } = await open();
      const held = await register(store, 'h1', 'fra');
      const other = host('h1', 'fra', { instanceId: 'i-00000000000000b2' });
      await assert.rejects(store.registerHost(other, ALIVE), (error: Error) => {
        assert.ok(error instanceof HostRefusedError);
        assert.equal(error.reason, 'held');
        assert.equal(error.holder?.instanceId, INSTANCE);
        assert.match(error.message, /--take-over/);
        return true;
      });
      assert.equal((await store.getHost('h1'))?.host.epoch, held.epoch, 'a refused registration writes nothing');
      await sleep(30);
      const stale = await store.registerHost(other, { takeOver: false, freshMs: 10 });
      assert.equal(stale.instanceId, 'i-00000000000000b2', 'a holder not heard from within freshMs is not alive');
      const taken = await store.registerHost(host('h1', 'fra'), { takeOver: true, freshMs: 10_000 });
      assert.equal(taken.instanceId, INSTANCE);
      assert.equal(taken.epoch, held.epoch + 2);
      assert.equal(await store.heartbeatHost('h1', stale.epoch), false, 'the instance taken over from is fenced');
    });

    it('declares lost only active hosts silent past the limit, raising their epoch; forgets and lets rejoin by state', async () => {
      const { store } = await open();
      const quiet = await register(store, 'h1', 'fra');
      await sleep(600);
      const chatty = await register(store, 'h2', 'fra');
      assert.deepEqual(await store.declareLostHosts(10_000), [], 'nobody is silent for 10 s');
      await store.heartbeatHost('h2', chatty.epoch);
      const declared = await store.declareLostHosts(400);
      assert.deepEqual(declared.map((h) => [h.id, h.state, h.epoch]), [['h1', 'lost', quiet.epoch + 1]]);
      assert.equal(await store.heartbeatHost('h1', quiet.epoch), false, 'a lost host is fenced');
      assert.equal(await store.heartbeatHost('h2', chatty.epoch), true);
      assert.deepEqual(await store.declareLostHosts(400), [], 'a lost host is declared once');
      assert.equal(await store.setHostState('h2', ['lost'], 'forgotten'), null, 'only from the states named');
      const forgotten = await store.setHostState('h1', ['lost', 'forgotten'], 'forgotten');
      assert.deepEqual([forgotten?.state, forgotten?.epoch], ['forgotten', quiet.epoch + 2]);
      await assert.rejects(register(store, 'h1', 'fra'), (error: Error) => error instanceof HostRefusedError && error.reason === 'forgotten');
      assert.equal((await store.setHostState('h1', ['forgotten'], 'lost'))?.state, 'lost');
      const back = await register(store, 'h1', 'fra');
      assert.deepEqual([back.state, back.epoch], ['active', quiet.epoch + 4], 'a host let rejoin registers again');
    });

    it('lists the live machines and the volumes of one host', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await register(store, 'h1', 'fra');
      await register(store, 'h2', 'fra');
      const on = (id: string, hostId: string) => store.insertMachine({ machine: machine({ id, region: 'fra' }), version: versionOf(machine({ id })), events: [] }, Infinity, (m) => ({ ...m, hostId }));
      await on('m-1', 'h1');
      const gone = await on('m-2', 'h1');
      await on('m-3', 'h2');
      await moveTo(store, gone, 'destroyed');
      assert.deepEqual((await store.listLiveMachines('h1')).map((m) => m.id), ['m-1']);
      assert.deepEqual((await store.listLiveMachines()).map((m) => m.id), ['m-1', 'm-3']);
      const volume = (id: string, hostId: string, state: VolumeRecord['state'] = 'created'): VolumeRecord => ({
        id, appName: 'app', name: 'data', region: 'fra', sizeGb: 1, state, encrypted: false, createdAt: 0, attachedMachineId: null,
        snapshotRetention: 5, autoBackupEnabled: false, hostId,
      });
      await store.putVolume(volume('vol_aaaaaaaaaaaaaaaa', 'h1'));
      await store.putVolume(volume('vol_bbbbbbbbbbbbbbbb', 'h2'));
      await store.putVolume(volume('vol_cccccccccccccccc', 'h1', 'destroyed'));
      assert.deepEqual((await store.listVolumesOnHost('h1')).map((v) => v.id), ['vol_aaaaaaaaaaaaaaaa']);
    });

    it('listHostUsage sums what machines not destroyed reserve, per host', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await register(store, 'h1', 'fra');
      await register(store, 'h2', 'fra');
      const big = machine({ id: 'm-1', region: 'fra' }, { guest: { cpu_kind: 'shared', cpus: 2, memory_mb: 512 } });
      const placed = await store.insertMachine({ machine: big, version: versionOf(big), events: [] }, Infinity, (m) => ({ ...m, hostId: 'h2' }));
      assert.equal(placed.hostId, 'h2');
      const usage = await store.listHostUsage();
      assert.deepEqual(usage.map((u) => [u.host.id, u.machines, u.reservedCpus, u.reservedMemoryMb]), [['h1', 0, 0, 0], ['h2', 1, 2, 512]]);
      const withoutAge = (u: HostUsage | null | undefined) => u && { ...u, host: { ...u.host, silentMs: 0 } };
      assert.deepEqual(withoutAge(await store.getHost('h2')), withoutAge(usage[1]), 'one host, as listed');
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
      await register(store, 'h1', 'fra');
      await register(store, 'h2', 'fra');
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => {
        const m = machine({ id: `m-${i}`, region: 'fra' });
        return (i % 2 ? other : store).insertMachine({ machine: m, version: versionOf(m), events: [] }, Infinity, place);
      }));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 8);
      for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /insufficient resources/);
      assert.deepEqual((await store.listHostUsage()).map((u) => u.reservedMemoryMb), [1024, 1024]);
    });

    it('two live machines of one host never share an IPv4 address once machine numbers pass its range: each takes the lowest free one', async () => {
      const { store } = await open();
      const create = await smallHost(store);
      const first = await create('m-1');
      // Machine numbers are the cluster's: creates elsewhere (or destroyed machines) use up the 256 between these two.
      for (let i = 0; i < 255; i++) await store.nextMachineNumber();
      const second = await create('m-2');
      assert.notEqual(ipv4Of(second), ipv4Of(first), `machines ${first.privateIp} and ${second.privateIp} share ${ipv4Of(first)}`);
      assert.deepEqual([ipv4Of(first), ipv4Of(second)], ['10.9.0.0', '10.9.0.1'], 'the lowest free addresses of the range, in order');
      assert.deepEqual([ipv4Of(await store.getMachineById('m-1')), ipv4Of(await store.getMachineById('m-2'))], ['10.9.0.0', '10.9.0.1'], 'recorded with the machine');
      await moveTo(store, first, 'destroyed');
      const third = await create('m-3');
      assert.equal(ipv4Of(third), '10.9.0.0', 'a destroyed machine\'s address is free again');
    });

    it('a host whose IPv4 range is full takes no more machines, saying which host and range; a destroyed machine makes room', async () => {
      const { store } = await open();
      const create = await smallHost(store);
      const placed: MachineRecord[] = [];
      for (let i = 0; i < 256; i++) placed.push(await create(`m-${i}`));
      assert.equal(new Set(placed.map(ipv4Of)).size, 256, 'every address of the range once');
      await assert.rejects(create('m-full'), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'insufficient_capacity');
        assert.match(error.message, /h1.*10\.9\.0\.0\/23/);
        return true;
      });
      await moveTo(store, placed[77] as MachineRecord, 'destroyed');
      assert.equal(ipv4Of(await create('m-again')), '10.9.0.77', 'the one address freed');
    });

    it('a machine recorded without an address keeps the one its number gives, and the host\'s new machines take others', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      // A host registered by a hangar that did not say its range (an older one): its machines get no address recorded.
      await register(store, 'h1', 'fra', { memoryMb: null, cpus: null });
      const old = machine({ id: 'm-old', region: 'fra' });
      const before = await store.insertMachine({ machine: old, version: versionOf(old), events: [] }, Infinity, placeWithAddress);
      assert.equal(before.privateIpv4, undefined);
      await register(store, 'h1', 'fra', { memoryMb: null, cpus: null, ipv4Range: SMALL_RANGE });
      const held = ipv4Of(before);
      const placed = [];
      for (const id of ['m-a', 'm-b']) {
        const m = machine({ id, region: 'fra' });
        placed.push(ipv4Of(await store.insertMachine({ machine: m, version: versionOf(m), events: [] }, Infinity, placeWithAddress)));
      }
      assert.deepEqual(placed, ['10.9.0.0', '10.9.0.1', '10.9.0.2'].filter((address) => address !== held).slice(0, 2));
      assert.equal(ipv4Of(await store.getMachineById('m-old')), held, 'its address did not change');
    });

    it('racing creates from two stores onto one host take distinct addresses, the lowest of its range', async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      await store.createApp(app('app'));
      await register(store, 'h1', 'fra', { memoryMb: null, cpus: null, ipv4Range: SMALL_RANGE });
      const placed = await Promise.all(Array.from({ length: 12 }, (_, i) => {
        const m = machine({ id: `m-${i}`, region: 'fra' });
        return (i % 2 ? other : store).insertMachine({ machine: m, version: versionOf(m), events: [] }, Infinity, placeWithAddress);
      }));
      assert.deepEqual(placed.map(ipv4Of).sort((a, b) => Number(a?.split('.')[3]) - Number(b?.split('.')[3])),
        Array.from({ length: 12 }, (_, i) => `10.9.0.${i}`));
    });

    it('a fenced write lands only for a machine on that host, while the host keeps the epoch it was written with', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await register(store, 'h1', 'fra');
      await register(store, 'h2', 'fra');
      const on = (id: string, hostId: string) => store.insertMachine({ machine: machine({ id, region: 'fra' }), version: versionOf(machine({ id })), events: [] }, Infinity, (m) => ({ ...m, hostId }));
      const mine = await on('m-1', 'h1');
      const theirs = await on('m-2', 'h2');
      const written = await store.commit({ machine: { ...mine, state: 'starting' }, events: [], fence: { hostId: 'h1', epoch: 1 } });
      assert.equal(written.state, 'starting');
      await assert.rejects(store.commit({ machine: { ...theirs, state: 'starting' }, events: [], fence: { hostId: 'h1', epoch: 1 } }), FencedError);
      assert.equal((await store.getMachineById('m-2'))?.state, 'stopped', 'another host\'s machine is left alone');

      await register(store, 'h1', 'fra');
      await assert.rejects(store.commit({ machine: { ...written, state: 'started' }, events: [], fence: { hostId: 'h1', epoch: 1 } }), FencedError);
      assert.equal((await store.getMachineById('m-1'))?.state, 'starting', 'the old epoch wrote nothing');
      assert.equal((await store.commit({ machine: { ...written, state: 'started' }, events: [], fence: { hostId: 'h1', epoch: 2 } })).state, 'started');
      await assert.rejects(store.commit({ machine: { ...written, state: 'stopping' }, events: [], fence: { hostId: 'h1', epoch: 2 } }), StaleWriteError, 'a stale read is still stale');
    });

    it('claimWork reads a host\'s work with what it acknowledges gone, in one call; each piece with its machine\'s record where the store reads it then', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      await register(store, 'h1', 'fra');
      const on = (id: string) => store.insertMachine({ machine: machine({ id, region: 'fra' }), version: versionOf(machine({ id })), events: [], effects: [{ kind: 'prepare' }] }, Infinity, (m) => ({ ...m, hostId: 'h1' }));
      const first = await on('m-1');
      const [piece] = await store.claimWork({ hostId: 'h1', epoch: 1 }, [], 10);
      assert.equal(piece?.spec.machineId, 'm-1');
      if (piece?.machine !== undefined) assert.deepEqual(piece.machine, first, 'the record read with the work is the current one');

      await on('m-2');
      const next = await store.claimWork({ hostId: 'h1', epoch: 1 }, [piece!.id], 10, [piece!.id]);
      assert.deepEqual(next.map((work) => work.spec.machineId), ['m-2']);
      assert.deepEqual((await store.claimWork({ hostId: 'h1', epoch: 1 }, [], 10)).map((work) => work.spec.machineId), ['m-2'], 'the acknowledged piece is gone');

      await register(store, 'h1', 'fra');
      assert.deepEqual(await store.claimWork({ hostId: 'h1', epoch: 1 }, [], 10, [next[0]!.id]), [], 'an old epoch reads nothing');
      assert.deepEqual((await store.claimWork({ hostId: 'h1', epoch: 2 }, [], 10)).map((work) => work.spec.machineId), ['m-2'], 'and acknowledges nothing');
    });

    it('adoptUnplacedMachines gives machines without a host this one', async () => {
      const { store } = await open();
      await store.createApp(app('app'));
      const m = machine({ id: 'm-1' });
      await store.insertMachine({ machine: m, version: versionOf(m), events: [] });
      await register(store, 'h1', 'fra');
      assert.equal(await store.adoptUnplacedMachines('h1'), 1);
      assert.equal((await store.getMachineById('m-1'))?.hostId, 'h1');
      assert.equal((await store.listHostUsage())[0]?.machines, 1);
      assert.equal(await store.adoptUnplacedMachines('h1'), 0);
    });
  });
}

/** App `app` and host h1 of SMALL_RANGE (no other limit) in `store`; answers a create of machine `id` there. */
async function smallHost(store: Store): Promise<(id: string) => Promise<MachineRecord>> {
  await store.createApp(app('app'));
  await register(store, 'h1', 'fra', { memoryMb: null, cpus: null, ipv4Range: SMALL_RANGE });
  return (id: string) => {
    const m = machine({ id, region: 'fra' });
    return store.insertMachine({ machine: m, version: versionOf(m), events: [] }, Infinity, placeWithAddress);
  };
}
