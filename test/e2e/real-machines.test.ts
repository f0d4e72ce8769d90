/**
 * Real machines through the API (`hangar serve --driver qemu`): an image pushed to
 * a loopback registry, a machine created from it answering HTTP on its private
 * address, exec, stop with an exit event, a blank rootfs after start, a crash
 * handled by the restart policy, a SIGKILL of hangar survived without rebooting
 * the VM, and destroy leaving nothing behind; the app's secrets reaching a
 * machine, and nothing else.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { tapName } from '../../src/network/plan.ts';
import { textWhenUp } from '../helpers/http.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { busyboxLayer } from '../helpers/image-build.ts';

const APPLETS = ['sh', 'ls', 'touch', 'env', 'httpd', 'cat', 'df'];

describe('real machines through the API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-real-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const netns = `hgr-e2e-${suffix}`;
  let registry: Registry;
  let server: ServerProcess | undefined;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    const files = busyboxLayer(APPLETS);
    await pushImage(registry.host, 'e2e/web', '1', [{ compression: 'gzip', files }], {
      config: { Cmd: ['/bin/sh', '-c', 'echo "hello from $FLY_MACHINE_ID" > /index.html && echo "serving on 8080" && exec httpd -f -p 8080 -h /'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/e2e/web:1`;
  });

  after(async () => {
    await cleanUpRealServer(server, join(dir, 'data'), netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs, stops, restarts, survives a hangar crash and is destroyed', async () => {
    const data = join(dir, 'data');
    const start = () => startServerProcess(data, 'real-token', ['--driver', 'qemu', '--netns', netns]);
    server = await start();
    const api = (method: string, path: string, body?: unknown) => request(server as ServerProcess, method, path, body);
    const wait = async (id: string, state: string) => {
      const reply = await api('GET', `/v1/apps/web/machines/${id}/wait?state=${state}&timeout=60`);
      assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}`);
    };
    const page = (ip: string) => textWhenUp(`http://[${ip}]:8080/index.html`);
    const exec = async (id: string, command: string[]) => (await api('POST', `/v1/apps/web/machines/${id}/exec`, { command })).body;

    assert.equal((await api('POST', '/v1/apps', { name: 'web' })).status, 201);
    const volume = (await api('POST', '/v1/apps/web/volumes', { name: 'data', size_gb: 1 })).body;
    const mounts = [{ volume: volume.id, path: '/data' }];
    const created = await api('POST', '/v1/apps/web/machines', { config: { image, mounts, restart: { policy: 'on-failure', max_retries: 3 } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const machine = created.body;
    assert.match(machine.image_ref.digest, /^sha256:/);
    await wait(machine.id, 'started');
    assert.equal(await page(machine.private_ip), `hello from ${machine.id}\n`);
    assert.equal((await exec(machine.id, ['touch', '/scratch'])).exit_code, 0);
    assert.equal((await exec(machine.id, ['sh', '-c', 'echo kept > /data/note'])).exit_code, 0);
    const logs = await fetch(`${(server as ServerProcess).url}/hangar/v1/apps/web/machines/${machine.id}/logs?tail=20`, { headers: { authorization: 'Bearer real-token' } });
    assert.match(await logs.text(), /^serving on 8080\r?$/m, 'the app\'s stdout reaches the machine\'s logs');

    assert.equal((await api('POST', `/v1/apps/web/machines/${machine.id}/stop`, { signal: 'SIGTERM' })).status, 200);
    await wait(machine.id, 'stopped');
    const events = (await api('GET', `/v1/apps/web/machines/${machine.id}/events`)).body;
    assert.equal(events[0].type, 'exit');
    assert.equal(events[0].request.exit_event.requested_stop, true);

    await api('POST', `/v1/apps/web/machines/${machine.id}/start`);
    await wait(machine.id, 'started');
    assert.notEqual((await exec(machine.id, ['ls', '/scratch'])).exit_code, 0, 'the rootfs is blank again');
    assert.equal((await exec(machine.id, ['cat', '/data/note'])).stdout, 'kept\n', 'the volume keeps its data');

    await api('POST', `/v1/apps/web/machines/${machine.id}/signal`, { signal: 'SIGKILL' });
    for (let i = 0; i < 200; i++) {
      const latest = (await api('GET', `/v1/apps/web/machines/${machine.id}/events?limit=5`)).body;
      if (latest.some((e: { type: string; request: { restart_count?: number } }) => e.type === 'exit' && e.request.restart_count === 1)) break;
      await sleep(100);
    }
    await wait(machine.id, 'started');
    const crash = (await api('GET', `/v1/apps/web/machines/${machine.id}/events?limit=10`)).body.find((e: { type: string }) => e.type === 'exit');
    assert.deepEqual([crash.request.exit_event.exit_code, crash.request.exit_event.restarting, crash.request.restart_count], [137, true, 1]);
    assert.equal(await page(machine.private_ip), `hello from ${machine.id}\n`);

    const pidFile = join(data, 'machines', machine.id, 'qemu.pid');
    const qemuPid = Number(readFileSync(pidFile, 'utf8'));
    await server.kill();
    assert.ok(existsSync(`/proc/${qemuPid}`), 'the VM keeps running while hangar is down');
    server = await start();
    assert.equal((await api('GET', `/v1/apps/web/machines/${machine.id}`)).body.state, 'started');
    assert.equal(Number(readFileSync(pidFile, 'utf8')), qemuPid, 'same QEMU process: no reboot');
    assert.equal((await exec(machine.id, ['cat', '/index.html'])).stdout, `hello from ${machine.id}\n`);

    assert.equal((await api('DELETE', `/v1/apps/web/machines/${machine.id}?force=true`)).status, 200);
    await wait(machine.id, 'destroyed');
    assert.equal(existsSync(join(data, 'machines', machine.id)), false);
    assert.ok(!existsSync(`/proc/${qemuPid}`) || !readFileSync(`/proc/${qemuPid}/cmdline`, 'utf8').includes('qemu'));
    assert.throws(() => execFileSync('ip', ['-n', netns, 'link', 'show', tapName(machine.id)], { stdio: 'pipe' }));
    const kept = execFileSync('debugfs', ['-R', 'cat /note', join(data, 'volumes', `${volume.id}.ext4`)], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    assert.equal(kept, 'kept\n', 'the volume outlives the machine');
    assert.equal((await api('DELETE', `/v1/apps/web/volumes/${volume.id}`)).status, 200);
  });

  it('gives a machine its app\'s secrets, as env and as a file, and lets no value out anywhere else', async () => {
    const data = join(dir, 'data');
    server ??= await startServerProcess(data, 'real-token', ['--driver', 'qemu', '--netns', netns]);
    const api = (method: string, path: string, body?: unknown) => request(server as ServerProcess, method, path, body);
    const canary = `canary-${suffix}-e2e`;
    const answers: string[] = [];
    const said = async (method: string, path: string, body?: unknown) => {
      const reply = await api(method, path, body);
      answers.push(JSON.stringify(reply.body));
      return reply;
    };
    assert.equal((await api('POST', '/v1/apps', { name: 'sec' })).status, 201);
    const values = { DB_PASSWORD: canary, CERT: Buffer.from(`cert ${canary}\n`).toString('base64') };
    assert.equal((await said('POST', '/v1/apps/sec/secrets', { values })).status, 200);
    const created = await said('POST', '/v1/apps/sec/machines', {
      config: { image, env: { DB_PASSWORD: 'from-env' }, files: [{ guest_path: '/etc/app/cert.pem', secret_name: 'CERT', mode: 0o600 }] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await api('GET', `/v1/apps/sec/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    const exec = async (command: string[]) => (await api('POST', `/v1/apps/sec/machines/${id}/exec`, { command })).body;
    assert.equal((await exec(['sh', '-c', 'echo "$DB_PASSWORD"'])).stdout, `${canary}\n`, 'the secret, over the config\'s env');
    assert.equal((await exec(['cat', '/etc/app/cert.pem'])).stdout, `cert ${canary}\n`, 'the file from the secret');
    assert.equal(statSync(join(data, 'machines', id, 'initrd.img')).mode & 0o777, 0o600, 'the initramfs holding the env is root\'s alone');
    for (const path of [`/v1/apps/sec/machines/${id}`, '/v1/apps/sec/machines', `/v1/apps/sec/machines/${id}/events`, '/v1/apps/sec/secrets']) await said('GET', path);
    const metrics = await fetch(`${(server as ServerProcess).url}/metrics`, { headers: { authorization: 'Bearer real-token' } });
    answers.push(await metrics.text());
    assert.ok(!answers.some((text) => text.includes(canary)), 'no answer holds a value');
    assert.ok(!(server as ServerProcess).output().includes(canary), 'no log line holds a value');
    assert.equal((await api('DELETE', `/v1/apps/sec/machines/${id}?force=true`)).status, 200);
    assert.equal((await api('GET', `/v1/apps/sec/machines/${id}/wait?state=destroyed&timeout=60`)).status, 200);
  });
});
