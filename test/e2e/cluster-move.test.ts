/**
 * A machine moved with its volume between two real hosts of one region
 * (PostgreSQL, two host agents running QEMU, TCG here, each with its own machines'
 * namespace): suspended, it resumes on the other host with its memory and its
 * volume's data; stopped, it boots there with the volume's data. The host it left
 * keeps nothing of either.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestCluster } from '../helpers/cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { type RealHosts, startRealHosts } from '../helpers/real-hosts.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'sync'];

describe('a machine moved with its volume between two real hosts', { skip: postgresSkipReason() }, () => {
  let rig: RealHosts;
  let c: TestCluster;
  let image: string;

  before(async () => {
    rig = await startRealHosts({ app: 'mover', replicas: 1, hosts: [{ id: 'fra-1', region: 'fra' }, { id: 'fra-2', region: 'fra' }], applets: APPLETS });
    ({ c, image } = rig);
  });
  after(() => rig?.stop());

  const machines = '/v1/apps/mover/machines';
  const wait = async (id: string, state: string) => {
    const reply = await c.call(0, 'GET', `${machines}/${id}/wait?state=${state}&timeout=60`);
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}`);
  };
  const sh = async (id: string, script: string) => {
    const reply = await c.call(0, 'POST', `${machines}/${id}/exec`, { command: ['/bin/sh', '-c', script], timeout: 30 });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.stdout as string;
  };
  const move = async (id: string, host: string) => {
    const reply = await c.call(0, 'POST', `/hangar${machines}/${id}/move`, { host });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  };

  it('resumes a suspended machine on the other host with its memory and its volume, and boots a stopped one there with its volume', async () => {
    const volume = (await c.call(0, 'POST', '/v1/apps/mover/volumes', { name: 'data', region: 'fra', size_gb: 1 })).body;
    const file = (hostId: string) => join(c.hosts.get(hostId)?.dataDir as string, 'volumes', `${volume.id}.ext4`);
    const config = { image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, mounts: [{ volume: volume.id, path: '/data' }] };
    const m = (await c.call(0, 'POST', machines, { region: 'fra', config })).body;
    await wait(m.id, 'started');
    const from = m.host_id as string;
    const to = from === 'fra-1' ? 'fra-2' : 'fra-1';
    const memory = await sh(m.id, 'echo kept-$RANDOM > /dev/shm/mark; echo written-on-$(hostname) > /data/note; sync; cat /dev/shm/mark /proc/sys/kernel/random/boot_id');

    assert.equal((await c.call(0, 'POST', `${machines}/${m.id}/suspend`)).status, 200);
    await wait(m.id, 'suspended');
    await move(m.id, to);
    assert.equal((await c.call(0, 'GET', `/v1/apps/mover/volumes/${volume.id}`)).body.zone, to);
    assert.ok(existsSync(file(to)) && !existsSync(file(from)), 'the volume\'s file is on the new host only');
    assert.equal((await c.call(0, 'POST', `${machines}/${m.id}/start`)).status, 200);
    await wait(m.id, 'started');
    assert.equal(await sh(m.id, 'cat /dev/shm/mark /proc/sys/kernel/random/boot_id'), memory, 'resumed with its memory, not booted');
    assert.equal(await sh(m.id, 'cat /data/note'), `written-on-${m.id}\n`);
    const left = join(c.hosts.get(from)?.dataDir as string, 'machines', m.id);
    for (let i = 0; i < 50 && existsSync(left); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(!existsSync(left), 'the host it left holds nothing of it');

    assert.equal((await c.call(0, 'POST', `${machines}/${m.id}/stop`)).status, 200);
    await wait(m.id, 'stopped');
    await move(m.id, from);
    assert.ok(existsSync(file(from)) && !existsSync(file(to)), 'back on the first host');
    assert.equal((await c.call(0, 'POST', `${machines}/${m.id}/start`)).status, 200);
    await wait(m.id, 'started');
    assert.equal(await sh(m.id, 'cat /data/note'), `written-on-${m.id}\n`, 'a cold boot there mounts the volume with its data');
  });
});
