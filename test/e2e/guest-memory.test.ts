/**
 * Guest memory on real microVMs: a machine that may be suspended keeps its RAM in
 * memory (tmpfs) while it runs, so idling writes next to nothing to the disk; after
 * a suspend the RAM is written out to disk and let go of a while later, and a
 * resume reads it back; a host crash before the write-out was whole leads to a cold boot with a reason.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultMemoryDir } from '../../src/vmm/qemu/machine-files.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'httpd', 'mkdir'];
const TOKEN = 'memory-token';
/** An idle app: a web server and nothing else. */
const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';
const MiB = 1 << 20;

describe('guest memory on real machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-memory-'));
  const data = join(dir, 'data');
  const netns = `hgr-mem-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;
  // A suspended machine's RAM stays in memory 3 s once written out (1 min unless told).
  const ARGS = ['--driver', 'qemu', '--netns', netns, '--suspended-memory-for', '3s'];

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'mem/app', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/mem/app:1`;
    server = await startServerProcess(data, TOKEN, ARGS);
    assert.equal((await api('POST', '/v1/apps', { name: 'mem' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const machines = '/v1/apps/mem/machines';
  const machineDir = (id: string) => join(data, 'machines', id);
  const liveMemory = (id: string) => join(defaultMemoryDir(join(data, 'machines')), `${id}.ram`);
  const wait = async (id: string, state: string) => {
    const reply = await api('GET', `${machines}/${id}/wait?state=${state}&timeout=60`);
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}`);
  };
  const sh = async (id: string, script: string) => {
    const reply = await api('POST', `${machines}/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return (reply.body as { stdout: string }).stdout;
  };
  const create = async () => {
    const reply = await api('POST', machines, { config: { image, restart: { policy: 'no' }, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    await wait(reply.body.id, 'started');
    return reply.body as { id: string };
  };
  const suspend = async (id: string) => {
    assert.equal((await api('POST', `${machines}/${id}/suspend`)).status, 200);
    await wait(id, 'suspended');
  };
  const start = async (id: string) => {
    assert.equal((await api('POST', `${machines}/${id}/start`)).status, 200);
    await wait(id, 'started');
    const events = (await api('GET', `${machines}/${id}`)).body.events as Array<{ type: string; status: string; request: Record<string, unknown> }>;
    return events.find((e) => e.type === 'start' && e.status === 'started')?.request ?? {};
  };
  const destroy = async (id: string) => {
    assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);
    await wait(id, 'destroyed');
  };
  /** A mark in the guest's memory (its /dev/shm) and its boot: what a resume keeps and a boot loses. */
  const markAndBoot = (id: string) => sh(id, 'cat /dev/shm/mark /proc/sys/kernel/random/boot_id');
  const writtenBytes = (id: string) => {
    const pid = readFileSync(join(machineDir(id), 'qemu.pid'), 'utf8').trim();
    return Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
  };
  const writtenOut = async (id: string) => {
    const flushed = join(machineDir(id), 'snapshot.flushed');
    for (let i = 0; i < 300 && !existsSync(flushed); i++) await sleep(100);
    assert.ok(existsSync(flushed), 'written out and marked whole');
    assert.ok(existsSync(liveMemory(id)), 'kept in memory a while, for a resume without a copy back');
    for (let i = 0; i < 100 && existsSync(liveMemory(id)); i++) await sleep(100);
    assert.ok(!existsSync(liveMemory(id)), 'then let go of');
  };

  it('keeps a QEMU waiting for the resume while the RAM is in memory: a resume takes it, and it ends with the window', async () => {
    const m = await create();
    await sh(m.id, 'echo standby-$RANDOM > /dev/shm/mark');
    const before = await markAndBoot(m.id);
    const incoming = (pid: number) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('-incoming'); } catch { return false; } };
    /** The standby: `standby.pid` is there, and the pid file names a QEMU waiting for a state. */
    const standby = async () => {
      const pid = () => { try { return Number(readFileSync(join(machineDir(m.id), 'qemu.pid'), 'utf8')); } catch { return 0; } };
      for (let i = 0; i < 200 && !(existsSync(join(machineDir(m.id), 'standby.pid')) && incoming(pid())); i++) await sleep(50);
      assert.ok(incoming(pid()), 'a QEMU waiting for a state');
      return pid();
    };
    await suspend(m.id);
    const first = await standby();
    const resumed = await start(m.id);
    assert.equal(resumed.resumed, true, JSON.stringify(resumed));
    assert.equal(readFileSync(join(machineDir(m.id), 'qemu.pid'), 'utf8').trim(), String(first), 'the resume took the standby');
    assert.ok(!existsSync(join(machineDir(m.id), 'standby.pid')));
    assert.equal(await markAndBoot(m.id), before, 'the same memory and boot');

    await suspend(m.id);
    const second = await standby();
    await writtenOut(m.id);
    const alive = (pid: number) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu'); } catch { return false; } };
    assert.ok(!alive(second), 'the standby ended with the window, before the RAM left memory');
    assert.equal((await start(m.id)).resumed, true, 'a resume without it starts QEMU itself');
    assert.equal(await markAndBoot(m.id), before);
    await destroy(m.id);
  });

  it('keeps a suspendable machine\'s RAM in memory: idling a minute writes under 1 MiB to the disk', async () => {
    const m = await create();
    assert.ok(existsSync(liveMemory(m.id)), 'the RAM file is in memory');
    assert.ok(existsSync(join(machineDir(m.id), 'memory.ram')), 'its disk space for a suspend is reserved');
    await sh(m.id, 'echo idle > /dev/shm/mark');
    // What the boot writes to the rootfs (its journal) settles first.
    await sleep(15_000);
    const before = writtenBytes(m.id);
    await sleep(60_000);
    const written = writtenBytes(m.id) - before;
    assert.ok(written <= MiB, `QEMU wrote ${written} bytes in a minute`);
    await destroy(m.id);
    assert.ok(!existsSync(liveMemory(m.id)), 'destroyed: its RAM file is gone');
  });

  it('writes the RAM out after a suspend, lets go of it, and resumes from the disk with the memory kept', async () => {
    const m = await create();
    await sh(m.id, 'echo kept-$RANDOM > /dev/shm/mark');
    const before = await markAndBoot(m.id);
    await suspend(m.id);
    await writtenOut(m.id);
    const resumed = await start(m.id);
    assert.equal(resumed.resumed, true, JSON.stringify(resumed));
    assert.equal(await markAndBoot(m.id), before, 'the same memory and boot');
    assert.ok(existsSync(liveMemory(m.id)), 'running again from memory');
    await destroy(m.id);
  });

  it('boots cold, saying why, when the host crashed before the RAM was written out whole', async () => {
    const m = await create();
    await sh(m.id, 'echo lost > /dev/shm/mark');
    const before = await markAndBoot(m.id);
    await suspend(m.id);
    await writtenOut(m.id);
    // As a host crash during the write-out would leave it: the RAM in memory gone,
    // its copy on disk cut short and not marked whole, the host booted again.
    await server.kill();
    truncateSync(join(machineDir(m.id), 'memory.ram'), 64 * MiB);
    rmSync(join(machineDir(m.id), 'snapshot.flushed'));
    const metadata = join(machineDir(m.id), 'snapshot.json');
    writeFileSync(metadata, JSON.stringify({ ...JSON.parse(readFileSync(metadata, 'utf8')), bootId: 'an-earlier-boot' }));
    server = await startServerProcess(data, TOKEN, ARGS);
    assert.equal((await api('GET', `${machines}/${m.id}`)).body.state, 'suspended');
    const started = await start(m.id);
    assert.equal(started.resumed, false);
    assert.match(String(started.cold_boot_reason), /before the snapshot reached the disk/);
    assert.notEqual((await sh(m.id, 'cat /proc/sys/kernel/random/boot_id')).trim(), before.split('\n')[1]);
    await destroy(m.id);
  });
});
