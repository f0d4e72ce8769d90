/**
 * Hosts on one hangar: this process registers its host, machines are placed on it
 * and reserve what their guest asks for until destroyed, a cordoned host takes no
 * new machines, and a limited host is never overbooked, even by racing creates.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { machineIpv4, parseIpv4Range } from '../../src/network/layout.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

const image = 'registry.test/hello:1';
const small = { image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };

describe('hosts', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar({ settings: { hostId: 'alpha', defaultRegion: 'fra' }, capacity: { cpus: 4, memoryMb: 1024 } }); });
  after(() => t.close());

  it('lists this host with its capacity and what its machines reserve', async () => {
    const app = await t.app('reserving');
    const first = await t.machine(app, { config: small, skip_launch: true });
    assert.equal(first.host_id, 'alpha');
    const [host, ...others] = (await t.call('GET', '/hangar/v1/hosts')).body;
    assert.equal(others.length, 0);
    assert.equal(host.id, 'alpha');
    assert.equal(host.region, 'fra');
    assert.equal(host.status, 'up');
    assert.deepEqual(host.capacity, { cpus: 4, memory_mb: 1024, disk_bytes: host.capacity.disk_bytes });
    assert.deepEqual(host.reserved, { cpus: 1, memory_mb: 256 });
    assert.equal(host.machines, 1);
    assert.equal(host.ipv4_range, '172.19.0.0/16', 'the default range of a host without a network of its own');
    assert.equal((await t.call('DELETE', `/v1/apps/${app}/machines/${first.id}?force=true`)).status, 200);
    await t.idle();
    assert.deepEqual((await t.call('GET', '/hangar/v1/hosts')).body[0].reserved, { cpus: 0, memory_mb: 0 }, 'destroy releases');
  });

  it('never overbooks: of 8 racing creates of 256 MB on 1024 MB, exactly 4 are placed', async () => {
    const app = await t.app('racing');
    const replies = await Promise.all(Array.from({ length: 8 }, () => t.call('POST', `/v1/apps/${app}/machines`, { config: small, skip_launch: true })));
    const placed = replies.filter((reply) => reply.status === 200);
    const refused = replies.filter((reply) => reply.status !== 200);
    assert.equal(placed.length, 4);
    for (const reply of refused) {
      assert.equal(reply.status, 503);
      assert.equal(reply.body.status, 'insufficient_capacity');
      assert.match(reply.body.error, /no host of region fra has room for 1 CPUs and 256 MB \(alpha: 0 CPUs and 0 MB free\)/);
    }
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines`)).body.length, 4, 'nothing half-created');
    // Stopped machines keep their reservation: they must be able to start again where they are.
    assert.equal((await t.call('GET', '/hangar/v1/hosts')).body[0].reserved.memory_mb, 1024);
    for (const reply of placed) await t.call('DELETE', `/v1/apps/${app}/machines/${reply.body.id}?force=true`);
    await t.idle();
  });

  it('takes no new machines while cordoned, and takes them again once uncordoned', async () => {
    const app = await t.app('cordoned');
    const cordoned = await t.call('POST', '/hangar/v1/hosts/alpha/cordon');
    assert.equal(cordoned.status, 200);
    assert.equal(cordoned.body.status, 'cordoned');
    const refused = await t.call('POST', `/v1/apps/${app}/machines`, { config: small, skip_launch: true });
    assert.equal(refused.status, 503);
    assert.match(refused.body.error, /every host of region fra is cordoned/);
    assert.equal((await t.call('POST', '/hangar/v1/hosts/alpha/uncordon')).body.status, 'up');
    const placed = await t.call('POST', `/v1/apps/${app}/machines`, { config: small, skip_launch: true });
    assert.equal(placed.status, 200, JSON.stringify(placed.body));
  });

  it('refuses to move a machine on one hangar, which is one host, changing nothing', async () => {
    const app = await t.app('moving');
    const m = await t.machine(app, { config: small, skip_launch: true });
    const refused = await t.call('POST', `/hangar/v1/apps/${app}/machines/${m.id}/move`, { host: 'beta' });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match(refused.body.error, /one host/);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body.host_id, 'alpha');
  });

  it('answers 404 for a host it does not know and 400 for a name no host can have', async () => {
    assert.equal((await t.call('POST', '/hangar/v1/hosts/nowhere/cordon')).status, 404);
    assert.equal((await t.call('POST', '/hangar/v1/hosts/..%2Fetc/cordon')).status, 400);
  });
});

describe('machine IPv4 addresses on one host', () => {
  const range = '10.9.0.0/23';
  let t: TestHangar;
  before(async () => { t = await testHangar({ settings: { hostId: 'small', defaultRegion: 'fra', ipv4Range: range } }); });
  after(() => t.close());

  /** The address the machine's guest gets: the one recorded with it, else the one its number gives (machines recorded before addresses were). */
  const ipv4Of = async (id: string) => {
    const record = await t.hangar.control.store.getMachineById(id);
    assert.ok(record, `machine ${id} is recorded`);
    return machineIpv4(record, parseIpv4Range(range));
  };

  it('gives two live machines different addresses however many machines were created between them, and a fork child its own', async () => {
    const app = await t.app('addresses');
    const first = await t.machine(app, { config: small });
    // Machine numbers are the cluster's: 255 creates elsewhere pass this host's 256 addresses.
    for (let i = 0; i < 255; i++) await t.hangar.control.store.nextMachineNumber();
    const second = await t.machine(app, { config: small, skip_launch: true });
    assert.notEqual(await ipv4Of(second.id), await ipv4Of(first.id), `${first.private_ip} and ${second.private_ip} share an address`);
    assert.deepEqual([await ipv4Of(first.id), await ipv4Of(second.id)], ['10.9.0.0', '10.9.0.1']);
    assert.deepEqual([first.private_ipv4, second.private_ipv4], ['10.9.0.0', '10.9.0.1'], 'shown as hangar\'s private_ipv4');
    await t.waitFor(app, first.id, 'started');
    assert.equal(t.driver.host.vms.get(first.id)?.spec.privateIpv4, '10.9.0.0', 'the host boots the machine with its recorded address');
    const fork = await t.call('POST', `/hangar/v1/apps/${app}/machines/${first.id}/fork`, { count: 2 });
    assert.equal(fork.status, 200, JSON.stringify(fork.body));
    const children = fork.body as Array<{ id: string }>;
    assert.deepEqual(await Promise.all(children.map((child) => ipv4Of(child.id))), ['10.9.0.2', '10.9.0.3'], 'each child its own');
    for (const child of children) await t.waitFor(app, child.id, 'started');
    assert.deepEqual(children.map((child) => t.driver.host.vms.get(child.id)?.spec.privateIpv4), ['10.9.0.2', '10.9.0.3'], 'and runs with it');
    assert.equal((await t.call('DELETE', `/v1/apps/${app}/machines/${second.id}?force=true`)).status, 200);
    await t.idle();
    const third = await t.machine(app, { config: small, skip_launch: true });
    assert.equal(await ipv4Of(third.id), '10.9.0.1', 'a destroyed machine\'s address is the lowest free again');
  });

  it('refuses a machine with 503 insufficient_capacity once the host\'s range is full, naming the host and its range', async () => {
    const app = await t.app('full');
    const live = (await t.call('GET', '/hangar/v1/hosts')).body[0].machines as number;
    for (let i = live; i < 256; i++) await t.machine(app, { config: small, skip_launch: true });
    const refused = await t.call('POST', `/v1/apps/${app}/machines`, { config: small, skip_launch: true });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.status, 'insufficient_capacity');
    assert.match(refused.body.error, /small: no free IPv4 address in 10\.9\.0\.0\/23/);
  });
});
