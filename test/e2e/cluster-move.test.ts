/**
 * A machine moved with its volume between two real hosts of one region
 * (PostgreSQL, two host agents running QEMU, TCG here, each with its own machines'
 * namespace): suspended, it resumes on the other host with its memory and its
 * volume's data; stopped, it boots there with the volume's data. The host it left
 * keeps nothing of either.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { removeNamespace } from '../helpers/network.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'sync'];

describe('a machine moved with its volume between two real hosts', { skip: postgresSkipReason() }, () => {
  const suffix = Math.random().toString(16).slice(2, 6);
  const hosts = [
    { id: 'fra-1', region: 'fra', netns: `hgr-m1-${suffix}` },
    { id: 'fra-2', region: 'fra', netns: `hgr-m2-${suffix}` },
  ];
  let registry: Registry;
  let c: TestCluster;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'move/idle', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS) }], {
      config: { Cmd: ['/bin/sh', '-c', 'exec sleep 100000'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/move/idle:1`;
    c = await startCluster({
      replicas: 1,
      hosts: hosts.map((h) => ({ id: h.id, region: h.region, extraArgs: ['--driver', 'qemu', '--netns', h.netns, '--underlay', 'off'] })),
    });
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: 'mover', org_slug: 'personal' })).status, 201);
  });

  after(async () => {
    const machines = c ? (await c.call(0, 'GET', '/v1/apps/mover/machines').catch(() => ({ body: [] }))).body ?? [] : [];
    for (const m of machines) await c.call(0, 'DELETE', `/v1/apps/mover/machines/${m.id}?force=true`).catch(() => undefined);
    for (const m of machines) await c.call(0, 'GET', `/v1/apps/mover/machines/${m.id}/wait?state=destroyed&timeout=60`).catch(() => undefined);
    const dirs = [...(c?.hosts.values() ?? [])].map((h) => h.dataDir);
    await c?.stop();
    // VMs outlive hangar by design: whatever a failed run left goes here.
    for (const dir of dirs) {
      try { execFileSync('pkill', ['-KILL', '-f', `${dir}/machines`], { stdio: 'ignore' }); } catch { /* none left */ }
    }
    for (const h of hosts) await removeNamespace(h.netns);
    await registry?.stop();
  });

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
