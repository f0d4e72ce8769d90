/**
 * Hosts on one hangar: this process registers its host, machines are placed on it
 * and reserve what their guest asks for until destroyed, a cordoned host takes no
 * new machines, and a limited host is never overbooked, even by racing creates.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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

  it('answers 404 for a host it does not know and 400 for a name no host can have', async () => {
    assert.equal((await t.call('POST', '/hangar/v1/hosts/nowhere/cordon')).status, 404);
    assert.equal((await t.call('POST', '/hangar/v1/hosts/..%2Fetc/cordon')).status, 400);
  });
});
