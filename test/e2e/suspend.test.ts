/**
 * Suspend and resume on real microVMs, through `hangar serve --driver qemu`: a
 * resumed machine continues where it left off (a counter in memory, a listening
 * server, the same processes and boot, the clock corrected, data on rootfs and
 * volume); a snapshot is used at most once; stop, update, a corrupted snapshot or
 * one the host never flushed lead to a cold boot; a start during the suspend keeps
 * the machine running; a suspend that cannot write its snapshot leaves it running;
 * a machine suspends itself through /.fly/api; a snapshot outlives a crash of hangar.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { textWhenUp } from '../helpers/http.ts';
import { busyboxLayer, type LayerFiles } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'httpd', 'mkdir', 'pidof', 'date', 'dd', 'ls', 'sync', 'mv'];
const TOKEN = 'suspend-token';
/**
 * The app: httpd, and a counter that lives only in the shell's memory (the file just
 * shows it, replaced by a rename so that a reader never sees it empty).
 */
const APP = 'mkdir -p /www; echo up > /www/index.html; httpd -p 8080 -h /www; i=0; while true; do i=$((i+1)); echo $i > /www/count.new; mv /www/count.new /www/count; sleep 0.2; done';

/** The host's curl with the libraries it links, so that Fly's example runs verbatim in the guest. */
function curlFiles(): LayerFiles {
  const files: LayerFiles = { '/bin/curl': { mode: 0o755, content: readFileSync('/usr/bin/curl') } };
  const libraries = execFileSync('ldd', ['/usr/bin/curl']).toString().match(/\/\S+/g) ?? [];
  for (const library of libraries) files[library] = { mode: 0o755, content: readFileSync(library) };
  return files;
}

/** Fly's self-suspend example (suspend-resume.md), run by the app itself once it is up. */
const SELF_SUSPEND = 'curl --unix-socket /.fly/api -X POST http://flaps/v1/apps/$FLY_APP_NAME/machines/$FLY_MACHINE_ID/suspend';

describe('suspend and resume on real machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-suspend-'));
  const data = join(dir, 'data');
  const netns = `hgr-susp-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'susp/app', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/susp/app:1`;
    await pushImage(registry.host, 'susp/curl', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS, curlFiles()) }], {
      config: { Cmd: ['/bin/sh', '-c', `sleep 3; ${SELF_SUSPEND} -s -o /answer -w '%{http_code}' > /status; ${APP}`], Env: ['PATH=/bin'] },
    });
    server = await startServerProcess(data, TOKEN, ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await api('POST', '/v1/apps', { name: 'susp' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const machines = '/v1/apps/susp/machines';
  const machineDir = (id: string) => join(data, 'machines', id);
  const wait = async (id: string, state: string, version?: string) => {
    const reply = await api('GET', `${machines}/${id}/wait?state=${state}&timeout=60${version ? `&version=${version}` : ''}`);
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}`);
  };
  const sh = async (id: string, script: string) => {
    const reply = await api('POST', `${machines}/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body as { stdout: string; stderr: string; exit_code: number };
  };
  const create = async (config: Record<string, unknown> = {}) => {
    const reply = await api('POST', machines, { config: { image, restart: { policy: 'no' }, ...config } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    await wait(reply.body.id, 'started');
    await textWhenUp(`http://[${reply.body.private_ip}]:8080/count`);
    return reply.body as { id: string; private_ip: string; instance_id: string };
  };
  /** What identifies this run of the guest: its boot, the counter's shell and httpd. */
  const guestRun = async (id: string) => (await sh(id, 'cat /proc/sys/kernel/random/boot_id; pidof httpd; cat /www/count')).stdout.trim().split('\n');
  const suspend = async (id: string) => {
    const reply = await api('POST', `${machines}/${id}/suspend`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    await wait(id, 'suspended');
  };
  const start = async (id: string) => {
    const reply = await api('POST', `${machines}/${id}/start`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    await wait(id, 'started');
    return reply.body as { previous_state: string };
  };
  const lastStart = async (id: string) => {
    const events = (await api('GET', `${machines}/${id}`)).body.events as Array<{ type: string; status: string; request: Record<string, unknown> }>;
    return events.find((e) => e.type === 'start' && e.status === 'started')?.request ?? {};
  };
  /** A QEMU of the machine that is not a standby waiting for a state (`-incoming`). */
  const vmRuns = (id: string) => {
    let pids: string[];
    try {
      pids = execFileSync('pgrep', ['-f', `qemu-system.*machines/${id}/`], { stdio: 'pipe' }).toString().split('\n').filter(Boolean);
    } catch {
      return false; // none
    }
    return pids.some((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        // A QEMU that has exited but is not yet reaped (a zombie) has no command line: it runs nothing.
        return args.length > 0 && !args.includes('-incoming');
      } catch {
        return false; // gone meanwhile
      }
    });
  };
  const destroy = async (id: string) => assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);

  it('resumes where it left off: memory, server, processes, files, clock; the snapshot is used once', async () => {
    const volume = (await api('POST', '/v1/apps/susp/volumes', { name: 'data', size_gb: 1 })).body;
    const machine = await create({ mounts: [{ volume: volume.id, path: '/data' }] });
    await sh(machine.id, 'echo on-volume > /data/note; echo on-rootfs > /note');
    const [boot, httpd, count] = await guestRun(machine.id);

    await suspend(machine.id);
    assert.equal(vmRuns(machine.id), false, 'a suspended machine runs no VM (a standby QEMU waits for a state at most)');
    const saved = join(dir, 'first-snapshot');
    for (const file of ['snapshot.json', 'vmstate']) copyFileSync(join(machineDir(machine.id), file), `${saved}.${file}`);
    await sleep(4000); // long enough for an uncorrected guest clock to be visibly behind

    assert.equal((await start(machine.id)).previous_state, 'suspended');
    assert.equal((await lastStart(machine.id)).resumed, true);
    assert.equal(await textWhenUp(`http://[${machine.private_ip}]:8080/index.html`, { attempts: 3 }), 'up\n', 'the server answers without restarting');
    const [bootAfter, httpdAfter, countAfter] = await guestRun(machine.id);
    assert.equal(bootAfter, boot, 'the same boot: no reboot');
    assert.equal(httpdAfter, httpd, 'the same server process');
    assert.ok(Number(countAfter) >= Number(count), `the counter continues (${count} then ${countAfter})`);
    assert.ok(Number(countAfter) < Number(count) + 15, `the counter did not run while suspended (${count} then ${countAfter})`);
    await sleep(500);
    assert.ok(Number((await guestRun(machine.id))[2]) > Number(countAfter), 'the counter keeps counting');
    const files = await sh(machine.id, 'cat /data/note /note');
    assert.equal(files.stdout, 'on-volume\non-rootfs\n', 'rootfs and volume are as they were');
    // Read between two readings of the host's clock (the exec's own time is no error); `date +%s` drops the fraction.
    const hostBefore = Date.now() / 1000;
    const guestClock = Number((await sh(machine.id, 'date +%s')).stdout);
    const hostAfter = Date.now() / 1000;
    assert.ok(guestClock >= Math.floor(hostBefore) - 1 && guestClock <= hostAfter + 1, `the guest clock is corrected (guest ${guestClock}, host ${hostBefore} to ${hostAfter})`);
    assert.equal(existsSync(join(machineDir(machine.id), 'snapshot.json')), false, 'the snapshot is consumed by the resume');
    assert.equal(existsSync(join(machineDir(machine.id), 'vmstate')), false);

    // Suspend again, and put the first snapshot in place of the second: it must not be resumed.
    await suspend(machine.id);
    for (const file of ['snapshot.json', 'vmstate']) copyFileSync(`${saved}.${file}`, join(machineDir(machine.id), file));
    await start(machine.id);
    const stale = await lastStart(machine.id);
    assert.equal(stale.resumed, false, 'an old snapshot is never resumed');
    assert.match(String(stale.cold_boot_reason), /older than the machine's latest launch/);
    assert.notEqual((await guestRun(machine.id))[0], boot, 'a cold boot');
    assert.equal((await sh(machine.id, 'cat /data/note')).stdout, 'on-volume\n', 'the volume keeps its data through a cold boot');
    await destroy(machine.id);
  });

  it('boots cold after stop or update of a suspended machine, keeping data the app never synced', async () => {
    const volume = (await api('POST', '/v1/apps/susp/volumes', { name: 'data', size_gb: 1 })).body;
    const machine = await create({ mounts: [{ volume: volume.id, path: '/data' }] });
    // Not synced by the app: the suspend flushes the guest's disks before it saves the VM.
    await sh(machine.id, 'echo unsynced > /data/note');
    const [boot] = await guestRun(machine.id);
    await suspend(machine.id);
    assert.equal((await api('POST', `${machines}/${machine.id}/stop`)).status, 200);
    await wait(machine.id, 'stopped');
    for (let i = 0; i < 50 && existsSync(join(machineDir(machine.id), 'snapshot.json')); i++) await sleep(100);
    assert.equal(existsSync(join(machineDir(machine.id), 'snapshot.json')), false, 'stop discards the snapshot');
    assert.equal((await start(machine.id)).previous_state, 'stopped');
    assert.equal((await lastStart(machine.id)).resumed, false);
    const [coldBoot] = await guestRun(machine.id);
    assert.notEqual(coldBoot, boot, 'stop then start is a cold boot');
    assert.equal((await sh(machine.id, 'cat /data/note')).stdout, 'unsynced\n');

    await suspend(machine.id);
    const updated = await api('POST', `${machines}/${machine.id}`, {
      config: { image, restart: { policy: 'no' }, env: { RELEASE: 'two' }, mounts: [{ volume: volume.id, path: '/data' }] },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    await wait(machine.id, 'started', updated.body.instance_id);
    assert.notEqual((await guestRun(machine.id))[0], coldBoot, 'update then start is a cold boot');
    assert.equal((await sh(machine.id, 'echo $RELEASE')).stdout, 'two\n', 'of the new version');
    await destroy(machine.id);
  });

  it('boots cold, never failed, when the snapshot is corrupted or the host restarted before it was flushed', async () => {
    const machine = await create();
    const [boot] = await guestRun(machine.id);
    await suspend(machine.id);
    const vmstate = join(machineDir(machine.id), 'vmstate');
    const bytes = readFileSync(vmstate);
    bytes.fill(0x5a, 1000, 1100);
    writeFileSync(vmstate, bytes);
    await start(machine.id);
    const corrupted = await lastStart(machine.id);
    assert.equal(corrupted.resumed, false);
    assert.match(String(corrupted.cold_boot_reason), /corrupted/);
    const [coldBoot] = await guestRun(machine.id);
    assert.notEqual(coldBoot, boot);

    // As if the host crashed and rebooted before the snapshot reached the disk.
    await suspend(machine.id);
    const metadata = join(machineDir(machine.id), 'snapshot.json');
    const info = JSON.parse(readFileSync(metadata, 'utf8'));
    writeFileSync(metadata, JSON.stringify({ ...info, bootId: 'an-earlier-boot' }));
    rmSync(join(machineDir(machine.id), 'snapshot.flushed'), { force: true });
    await start(machine.id);
    const unflushed = await lastStart(machine.id);
    assert.equal(unflushed.resumed, false);
    assert.match(String(unflushed.cold_boot_reason), /before the snapshot reached the disk/);
    assert.notEqual((await guestRun(machine.id))[0], coldBoot);
    assert.equal((await api('GET', `${machines}/${machine.id}`)).body.state, 'started');
    await destroy(machine.id);
  });

  it('keeps running when a start arrives during the suspend', async () => {
    const machine = await create();
    const [boot, httpd] = await guestRun(machine.id);
    // Unsynced data makes the guest's flush, and so the suspend, take a while.
    await sh(machine.id, 'dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null');
    assert.equal((await api('POST', `${machines}/${machine.id}/suspend`)).status, 200);
    const started = await api('POST', `${machines}/${machine.id}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.previous_state, 'suspending');
    await wait(machine.id, 'started');
    const [bootAfter, httpdAfter] = await guestRun(machine.id);
    assert.deepEqual([bootAfter, httpdAfter], [boot, httpd], 'the same boot and server: the machine kept running');
    assert.deepEqual(await lastStart(machine.id), { resumed: true, restart_count: 0, suspend_cancelled: true }, 'the suspend was cancelled');
    await destroy(machine.id);
  });

  it('leaves the machine running when the snapshot cannot be written', async () => {
    const machine = await create();
    const [boot] = await guestRun(machine.id);
    symlinkSync('/dev/full', join(machineDir(machine.id), 'vmstate.partial')); // a full disk
    assert.equal((await api('POST', `${machines}/${machine.id}/suspend`)).status, 200);
    await wait(machine.id, 'started');
    const shown = (await api('GET', `${machines}/${machine.id}`)).body;
    const failed = shown.events.find((e: { type: string; status: string }) => e.type === 'suspend' && e.status === 'started');
    assert.match(String(failed?.request.error), /writing the VM state failed: .*ENOSPC/);
    assert.equal((await guestRun(machine.id))[0], boot, 'still the same boot');
    assert.equal(await textWhenUp(`http://[${machine.private_ip}]:8080/index.html`, { attempts: 3 }), 'up\n');
    assert.equal(existsSync(join(machineDir(machine.id), 'snapshot.json')), false, 'no partial snapshot is kept');
    await suspend(machine.id);
    await start(machine.id);
    assert.equal((await lastStart(machine.id)).resumed, true, 'the next suspend works');
    await destroy(machine.id);
  });

  it('suspends itself through /.fly/api, which reaches no other machine', async () => {
    const other = await create();
    const reply = await api('POST', machines, { config: { image: `${registry.host}/susp/curl:1`, restart: { policy: 'no' } } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const machine = reply.body as { id: string; private_ip: string };
    await wait(machine.id, 'suspended');
    await start(machine.id);
    assert.equal((await lastStart(machine.id)).resumed, true);
    await textWhenUp(`http://[${machine.private_ip}]:8080/count`); // the app starts once curl is done
    assert.equal((await sh(machine.id, 'cat /status')).stdout, '200', 'curl got the answer to its suspend');

    const forbidden = await sh(machine.id, `curl -s --unix-socket /.fly/api -X POST http://flaps/v1/apps/susp/machines/${other.id}/stop`);
    assert.match(forbidden.stdout, /"error":"\/.fly\/api in machine [0-9a-f]+ serves only/);
    const listing = await sh(machine.id, 'curl -s -w " %{http_code}" --unix-socket /.fly/api http://flaps/v1/apps/susp/machines');
    assert.match(listing.stdout, / 403$/);
    const own = await sh(machine.id, 'curl -s --unix-socket /.fly/api http://flaps/v1/apps/$FLY_APP_NAME/machines/$FLY_MACHINE_ID');
    assert.equal(JSON.parse(own.stdout).state, 'started');
    assert.equal((await api('GET', `${machines}/${other.id}`)).body.state, 'started', 'the other machine was not touched');
    await destroy(machine.id);
    await destroy(other.id);
  });

  it('keeps a suspended machine\'s snapshot through a kill -9 of hangar', async () => {
    const machine = await create();
    const [boot, httpd] = await guestRun(machine.id);
    await suspend(machine.id);
    await server.kill();
    server = await startServerProcess(data, TOKEN, ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await api('GET', `${machines}/${machine.id}`)).body.state, 'suspended');
    await start(machine.id);
    assert.equal((await lastStart(machine.id)).resumed, true);
    assert.deepEqual((await guestRun(machine.id)).slice(0, 2), [boot, httpd]);
    await destroy(machine.id);
  });
});
