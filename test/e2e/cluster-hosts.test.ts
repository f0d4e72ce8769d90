/**
 * A cluster on real microVMs: PostgreSQL, two host agents running QEMU (TCG here),
 * each in its own network namespace with its own machine addresses, and two API
 * replicas. Machines are placed on both hosts and created, started, suspended,
 * resumed (their memory kept), stopped and destroyed through either replica; a
 * volume is made on its region's host and mounted by a machine placed there.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestCluster } from '../helpers/cluster.ts';
import { busyboxLayer, type LayerFiles } from '../helpers/image-build.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { pushImage } from '../helpers/registry.ts';
import { type RealHosts, startRealHosts } from '../helpers/real-hosts.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'httpd'];

describe('a cluster of two real hosts', { skip: postgresSkipReason() }, () => {
  const hosts = [{ id: 'fra-1', region: 'fra' }, { id: 'syd-1', region: 'syd' }];
  let rig: RealHosts;
  let c: TestCluster;
  let image: string;

  before(async () => {
    rig = await startRealHosts({ app: 'twohosts', replicas: 2, hosts, applets: APPLETS });
    ({ c, image } = rig);
  });
  after(() => rig?.stop());

  const machines = '/v1/apps/twohosts/machines';
  const wait = async (replica: number, id: string, state: string) => {
    const reply = await c.call(replica, 'GET', `${machines}/${id}/wait?state=${state}&timeout=60`);
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}`);
  };
  const sh = async (replica: number, id: string, script: string) => {
    const reply = await c.call(replica, 'POST', `${machines}/${id}/exec`, { command: ['/bin/sh', '-c', script], timeout: 30 });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.stdout as string;
  };

  it('places, starts, suspends, resumes, stops and destroys machines on both hosts through either replica', async () => {
    const placed = [];
    for (const [i, host] of hosts.entries()) {
      const reply = await c.call(i, 'POST', machines, { region: host.region, config: { image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } } });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.host_id, host.id);
      placed.push(reply.body as { id: string; private_ip: string });
    }
    assert.notEqual(placed[0]?.private_ip.split(':')[3], placed[1]?.private_ip.split(':')[3], 'each host has its own address group');

    for (const [i, m] of placed.entries()) {
      const other = 1 - i;
      await wait(other, m.id, 'started');
      const mark = await sh(other, m.id, 'echo kept-$RANDOM > /dev/shm/mark; cat /dev/shm/mark /proc/sys/kernel/random/boot_id');

      assert.equal((await c.call(i, 'POST', `${machines}/${m.id}/suspend`)).status, 200);
      await wait(other, m.id, 'suspended');
      assert.equal((await c.call(other, 'POST', `${machines}/${m.id}/start`)).status, 200);
      await wait(i, m.id, 'started');
      assert.equal(await sh(i, m.id, 'cat /dev/shm/mark /proc/sys/kernel/random/boot_id'), mark, 'resumed with its memory, not booted');
      const events = (await c.call(i, 'GET', `${machines}/${m.id}`)).body.events as Array<{ type: string; status: string; request?: { resumed?: boolean } }>;
      assert.equal(events.find((e) => e.type === 'start' && e.status === 'started')?.request?.resumed, true);

      assert.equal((await c.call(other, 'POST', `${machines}/${m.id}/stop`)).status, 200);
      await wait(i, m.id, 'stopped');
      assert.equal((await c.call(i, 'DELETE', `${machines}/${m.id}`)).status, 200);
      await wait(other, m.id, 'destroyed');
    }
    const usage = (await c.call(0, 'GET', '/hangar/v1/hosts')).body as Array<{ machines: number; status: string }>;
    assert.deepEqual(usage.map((h) => [h.status, h.machines]), [['up', 0], ['up', 0]]);
  });

  it('creates a machine of an image its host holds, named by digest or by a tag the replica pins, and boots it when started', async () => {
    const guest = { cpu_kind: 'shared', cpus: 1, memory_mb: 256 };
    const first = await c.call(0, 'POST', machines, { region: 'fra', skip_launch: true, config: { image, guest } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const { digest } = first.body.image_ref as { digest: string };
    const pinned = `${image.replace(/:[^:/]+$/, '')}@${digest}`;
    const held = await c.call(1, 'POST', machines, { region: 'fra', skip_launch: true, config: { image: pinned, guest } });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    assert.equal(held.body.state, 'created');
    assert.equal(held.body.image_ref.digest, digest);
    // A tag is pinned by the replica, with the registry's own answer.
    const repository = image.replace(/:[^:/]+$/, '');
    const registryDigest = async (tag: string) => {
      const manifest = await fetch(`http://${repository.replace('/', '/v2/')}/manifests/${tag}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
      });
      return `sha256:${createHash('sha256').update(Buffer.from(await manifest.arrayBuffer())).digest('hex')}`;
    };
    assert.equal(digest, await registryDigest('1'));
    // An image under a tag of its own, which moves on once the machine is created.
    const push = (files: LayerFiles) => pushImage(repository.split('/')[0] as string, 'cluster/idle', 'moving', [{ compression: 'gzip', files }], {
      config: { Cmd: ['/bin/sh', '-c', 'exec sleep 100000'], Env: ['PATH=/bin'] },
    });
    await push(busyboxLayer(APPLETS));
    // Prepared by its host, which then holds the image; the next create of the tag needs no prepare.
    const warm = await c.call(0, 'POST', machines, { region: 'fra', skip_launch: true, config: { image: `${repository}:moving`, guest } });
    assert.equal(warm.status, 200, JSON.stringify(warm.body));
    const byTag = await c.call(1, 'POST', machines, { region: 'fra', skip_launch: true, config: { image: `${repository}:moving`, guest } });
    assert.equal(byTag.status, 200, JSON.stringify(byTag.body));
    const tagged = await registryDigest('moving');
    assert.deepEqual([byTag.body.state, byTag.body.image_ref.tag, byTag.body.image_ref.digest], ['created', 'moving', tagged]);
    await push(busyboxLayer(APPLETS, { '/moved': { mode: 0o644, content: Buffer.from('the tag moved\n') } }));
    // Their host never prepared them for these machines: their starts do, of the image the create pinned.
    for (const m of [held.body, byTag.body]) {
      assert.equal((await c.call(0, 'POST', `${machines}/${m.id}/start`)).status, 200);
      await wait(0, m.id, 'started');
      assert.equal(await sh(1, m.id, 'cat /moved 2>/dev/null || echo pinned'), 'pinned\n');
    }
    assert.notEqual(await registryDigest('moving'), tagged, 'the tag moved');
    assert.equal((await c.call(0, 'GET', `${machines}/${byTag.body.id}`)).body.image_ref.digest, tagged);
    for (const m of [first.body, held.body, warm.body, byTag.body]) {
      assert.equal((await c.call(0, 'DELETE', `${machines}/${m.id}?force=true`)).status, 200);
      await wait(1, m.id, 'destroyed');
    }
  });

  it('runs a machine\'s health checks on its host, and every replica shows their results', async () => {
    const web = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';
    const config = {
      image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, init: { exec: ['/bin/sh', '-c', web] },
      checks: { web: { type: 'http', port: 8080, path: '/', interval: '1s', timeout: '2s' }, closed: { type: 'tcp', port: 9999, interval: '1s', timeout: '2s' } },
    };
    const m = await c.call(0, 'POST', machines, { region: 'syd', config });
    assert.equal(m.status, 200, JSON.stringify(m.body));
    await wait(1, m.body.id, 'started');
    type Check = { name: string; status: string; output: string };
    const checksOn = async (replica: number) => (await c.call(replica, 'GET', `${machines}/${m.body.id}`)).body.checks as Check[];
    for (let i = 0; i < 120 && (await checksOn(0)).find((check) => check.name === 'web')?.status !== 'passing'; i++) await new Promise((resolve) => setTimeout(resolve, 250));
    const shown = await checksOn(0);
    assert.deepEqual(shown.map((check) => [check.name, check.status]), [['closed', 'critical'], ['web', 'passing']], JSON.stringify(shown));
    assert.match(shown[1]?.output ?? '', /GET \/: 200/);
    assert.deepEqual(await checksOn(1), shown, 'the other replica shows the same');
    const listed = (await c.call(1, 'GET', machines)).body.find((x: { id: string }) => x.id === m.body.id);
    assert.deepEqual(listed.checks, shown);

    assert.equal((await c.call(1, 'DELETE', `${machines}/${m.body.id}?force=true`)).status, 200);
    await wait(0, m.body.id, 'destroyed');
  });

  it('keeps a volume on the host of its region, mounts it in a machine placed there, and keeps its data across a stop', async () => {
    const volume = await c.call(0, 'POST', '/v1/apps/twohosts/volumes', { name: 'data', region: 'syd', size_gb: 1 });
    assert.equal(volume.status, 200, JSON.stringify(volume.body));
    assert.equal(volume.body.host_id, 'syd-1');
    const file = (hostId: string) => join(c.hosts.get(hostId)?.dataDir as string, 'volumes', `${volume.body.id}.ext4`);
    assert.ok(existsSync(file('syd-1')) && !existsSync(file('fra-1')), 'the file is on syd-1 only');

    const config = { image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, mounts: [{ volume: volume.body.id, path: '/data' }] };
    const m = await c.call(1, 'POST', machines, { region: 'syd', config });
    assert.equal(m.status, 200, JSON.stringify(m.body));
    assert.equal(m.body.host_id, 'syd-1');
    await wait(0, m.body.id, 'started');
    await sh(0, m.body.id, 'echo written-on-syd > /data/note; sync');
    assert.equal((await c.call(1, 'POST', `${machines}/${m.body.id}/stop`)).status, 200);
    await wait(0, m.body.id, 'stopped');
    assert.equal((await c.call(0, 'POST', `${machines}/${m.body.id}/start`)).status, 200);
    await wait(1, m.body.id, 'started');
    assert.equal(await sh(1, m.body.id, 'cat /data/note'), 'written-on-syd\n');

    assert.equal((await c.call(0, 'DELETE', `${machines}/${m.body.id}?force=true`)).status, 200);
    await wait(1, m.body.id, 'destroyed');
    assert.equal((await c.call(1, 'DELETE', `/v1/apps/twohosts/volumes/${volume.body.id}`)).status, 200);
    assert.ok(!existsSync(file('syd-1')), 'deleted on its host');
  });
});
