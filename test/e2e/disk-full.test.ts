/**
 * A full disk loses nothing and explains itself. The machines' files (RAM files,
 * overlays, snapshots) live on a small ext4 filesystem the test mounts and fills:
 *
 * - a guest touching new memory on a full disk goes on (its RAM file was given its
 *   disk space when it booted; sparse, QEMU died of SIGBUS);
 * - a suspend whose state cannot be written leaves the machine running, memory
 *   intact, with an event; a VM that pauses on a disk error (its guest writing, or
 *   flushing for a suspend) is ended and the event says so: never `started` and frozen;
 * - a start without the disk space for the machine's memory is refused, the
 *   machine `failed` with an event saying so, and nothing half-made;
 * - with hangar's database on a full disk, the API error and the log say so.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { qemuOf, tapExists as tapOf } from '../helpers/host-traces.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { type SmallFs, smallFilesystem } from '../helpers/small-fs.ts';

const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';
const MB = 1 << 20;

describe('a full disk under the machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-diskfull-'));
  const data = join(dir, 'data');
  const netns = `hgr-full-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess | undefined;
  let disk: SmallFs;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'full/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'cat', 'echo', 'mkdir', 'httpd', 'dd', 'sync']) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/full/app:1`;
    // The machines' directory on a disk of its own; the database and image cache stay on the big one.
    disk = smallFilesystem(join(data, 'machines'), 640);
    server = await startServerProcess(data, 'full-token', ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await api('POST', '/v1/apps', { name: 'full' })).status, 201);
    const pulled = await fetch(`${server.url}/hangar/v1/images/pull`, { method: 'POST', headers: { authorization: 'Bearer full-token', 'content-type': 'application/json' }, body: JSON.stringify({ image }) });
    await pulled.text();
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    disk?.remove();
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server as ServerProcess, method, path, body);
  const machines = '/v1/apps/full/machines';
  const wait = async (id: string, state: string) => {
    const reply = await api('GET', `${machines}/${id}/wait?state=${state}&timeout=60`);
    const shown = reply.status === 200 ? undefined : (await api('GET', `${machines}/${id}`)).body;
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}, now ${shown?.state}: ${JSON.stringify(shown?.events.slice(0, 4))}`);
  };
  const sh = async (id: string, script: string) => {
    const reply = await api('POST', `${machines}/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(reply.status, 200, `${JSON.stringify(reply.body)}: ${JSON.stringify((await api('GET', `${machines}/${id}`)).body.events.slice(0, 4))}`);
    return reply.body as { stdout: string; exit_code: number };
  };
  const events = async (id: string) => (await api('GET', `${machines}/${id}`)).body.events as Array<{ type: string; status: string; request: Record<string, any> }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const create = async () => {
    const reply = await api('POST', machines, { config: { image, guest: { cpus: 1, memory_mb: 256 }, restart: { policy: 'no' } } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.id as string;
  };
  const destroy = async (id: string) => {
    assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);
    await wait(id, 'destroyed'); // its files, RAM file included, are gone
  };
  const memory = async (id: string) => (await sh(id, 'cat /dev/shm/mark /proc/sys/kernel/random/boot_id')).stdout;
  const qemuRuns = (id: string) => qemuOf(id) !== '';
  const tapExists = (id: string) => tapOf(netns, id);

  it('keeps a running machine going when its guest touches new memory, and when its state cannot be written', async () => {
    const id = await create();
    await wait(id, 'started');
    await sh(id, 'echo kept > /dev/shm/mark');
    const before = await memory(id);
    // One suspend with room: the state is small (the RAM stays in its file), but it needs some.
    await api('POST', `${machines}/${id}/suspend`);
    await wait(id, 'suspended');
    const stateBytes = JSON.parse(readFileSync(join(data, 'machines', id, 'snapshot.json'), 'utf8')).stateBytes as number;
    await api('POST', `${machines}/${id}/start`);
    await wait(id, 'started');
    assert.equal(await memory(id), before);
    assert.ok(stateBytes > 0);
    await sh(id, 'sync');
    await disk.fill(0);
    try {
      assert.equal((await api('POST', `${machines}/${id}/suspend`)).status, 200);
      await wait(id, 'started');
      const failed = (await events(id)).find((e) => e.type === 'suspend' && e.status === 'started');
      assert.match(String(failed?.request.error), /writing the VM state failed: .*ENOSPC/, JSON.stringify(failed));
      assert.equal(await memory(id), before, 'the same VM, memory intact');
      assert.equal(existsSync(join(data, 'machines', id, 'snapshot.json')), false, 'no partial snapshot');

      // 100 MB of memory the guest never touched before: its RAM file already holds the blocks.
      const dd = await sh(id, 'dd if=/dev/zero of=/dev/shm/big bs=1M count=100 2>&1; echo done');
      assert.match(dd.stdout, /done/);
      assert.equal((await api('GET', `${machines}/${id}`)).body.state, 'started');
      assert.equal(await memory(id), before, 'still the same VM');
    } finally {
      disk.unfill();
    }
    await api('POST', `${machines}/${id}/suspend`);
    await wait(id, 'suspended');
    await api('POST', `${machines}/${id}/start`);
    await wait(id, 'started');
    assert.equal(await memory(id), before, 'with space again, it suspends and resumes');
    await destroy(id);
  });

  it('ends a VM that pauses on a disk error as its guest writes, and says so: never started and frozen', async () => {
    const id = await create();
    await wait(id, 'started');
    await sh(id, 'sync');
    await disk.fill(0);
    try {
      // Data the guest has not flushed yet needs new blocks of its overlay, on a full disk: at the
      // latest the suspend's flush writes it, and the VM pauses on the error.
      await sh(id, 'dd if=/dev/urandom of=/big bs=1M count=4 2>/dev/null; echo written');
      await api('POST', `${machines}/${id}/suspend`);
      const settled = await api('GET', `${machines}/${id}/wait?state=stopped&timeout=60`);
      const shown = (await api('GET', `${machines}/${id}`)).body;
      assert.equal(settled.status, 200, `not stopped: ${shown.state} ${JSON.stringify(shown.events.slice(0, 3))}`);
      const said = shown.events.map((e: { request: { error?: string; vmm_exit?: { reason: string } } }) => e.request.error ?? e.request.vmm_exit?.reason ?? '').join('\n');
      assert.match(said, /paused on an I\/O error/, JSON.stringify(shown.events.slice(0, 3)));
      assert.equal(qemuRuns(id), false, 'no QEMU left paused');
    } finally {
      disk.unfill();
    }
    assert.equal((await api('POST', `${machines}/${id}/start`)).status, 200);
    await wait(id, 'started');
    await destroy(id);
  });

  it('refuses a start without the disk space for the machine\'s memory: failed, with the reason, nothing half-made', async () => {
    await disk.fill(100 * MB);
    let id: string;
    try {
      id = await create();
      await wait(id, 'failed');
      const launch = (await events(id)).find((e) => e.type === 'launch' && e.status === 'failed');
      assert.match(String(launch?.request.error), /not enough disk space for the machine's memory: it needs 256 MB/);
      assert.equal(qemuRuns(id), false, 'no QEMU');
      assert.equal(tapExists(id), false, 'no TAP');
      assert.equal(existsSync(join(data, 'machines', id, 'memory.ram')), false, 'no RAM file');
    } finally {
      disk.unfill();
    }
    assert.equal((await api('POST', `${machines}/${id}/start`)).status, 200);
    await wait(id, 'started');
    await destroy(id);
  });
});

describe('a full disk under hangar\'s database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-dbfull-'));
  const data = join(dir, 'data');
  let server: ServerProcess | undefined;
  let disk: SmallFs;

  before(async () => {
    mkdirSync(data, { recursive: true });
    disk = smallFilesystem(data, 64);
    server = await startServerProcess(data, 'db-token', ['--driver', 'fake']);
  });

  after(async () => {
    await server?.stop();
    disk?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a write it could not store with the reason, logs it, and goes on once there is space', async () => {
    const live = server as ServerProcess;
    assert.equal((await request(live, 'POST', '/v1/apps', { name: 'before-full' })).status, 201);
    await disk.fill(0);
    let refused: { status: number; body: { error?: string } } | undefined;
    try {
      for (let i = 0; i < 200 && !refused; i++) {
        const reply = await request(live, 'POST', '/v1/apps', { name: `full-${i}` });
        if (reply.status !== 201) refused = reply;
      }
    } finally {
      disk.unfill();
    }
    assert.ok(refused, 'some write was refused');
    assert.equal(refused.status, 507, JSON.stringify(refused.body));
    assert.match(String(refused.body.error), /database or disk is full/);
    assert.match(live.output(), /database or disk is full/, 'and the log says so');
    assert.equal((await request(live, 'POST', '/v1/apps', { name: 'after-full' })).status, 201);
    assert.equal((await request(live, 'GET', '/v1/apps/before-full')).status, 200);
  });
});
