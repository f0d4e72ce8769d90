/**
 * More of the lifecycle on real microVMs, through `hangar serve --driver qemu` and
 * the CLI: pull progress, `rootfs.persist`, `update` to a new image, `auto_destroy`,
 * an out-of-memory kill reported in the exit event, and an image from an OCI layout
 * on disk.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { textWhenUp } from '../helpers/http.ts';
import { buildImage, busyboxLayer, writeOciLayout } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, HANGAR, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const run = promisify(execFile);
const APPLETS = ['sh', 'ls', 'touch', 'cat', 'httpd', 'awk', 'sleep', 'echo'];
const TOKEN = 'lifecycle-token';

/** An httpd image whose page names the image version. */
const webConfig = (version: string) => ({
  Cmd: ['/bin/sh', '-c', `echo "${version} $FLY_MACHINE_ID" > /index.html && exec httpd -f -p 8080 -h /`], Env: ['PATH=/bin'],
});

describe('real machine lifecycle details', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-life-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const netns = `hgr-life-${suffix}`;
  let registry: Registry;
  let server: ServerProcess;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'life/web', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS) }], { config: webConfig('v1') });
    await pushImage(registry.host, 'life/web', '2', [{ compression: 'zstd', files: busyboxLayer(APPLETS) }], { config: webConfig('v2') });
    server = await startServerProcess(join(dir, 'data'), TOKEN, ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await api('POST', '/v1/apps', { name: 'life' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, join(dir, 'data'), netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const machines = '/v1/apps/life/machines';
  const wait = async (id: string, state: string, version?: string) => {
    const reply = await api('GET', `${machines}/${id}/wait?state=${state}&timeout=60${version ? `&version=${version}` : ''}`);
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}`);
  };
  const exec = async (id: string, command: string[]) => (await api('POST', `${machines}/${id}/exec`, { command })).body;
  const create = async (config: Record<string, unknown>) => {
    const reply = await api('POST', machines, { config });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  };

  it('shows pull progress in the CLI', async () => {
    const env = { ...process.env, HANGAR_API_URL: server.url, HANGAR_API_TOKEN: TOKEN };
    const pulled = await run(HANGAR, ['image', 'pull', `${registry.host}/life/web:2`], { env });
    assert.match(pulled.stderr, /^Pulling 127\.0\.0\.1:\d+\/life\/web:2$/m);
    assert.match(pulled.stderr, /^ {2}[0-9a-f]{12}: downloaded [\d.]+ MB of [\d.]+ MB \(100%\)$/m);
    assert.match(pulled.stderr, /^ {2}building the root filesystem$/m);
    assert.match(pulled.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const again = await run(HANGAR, ['image', 'pull', `${registry.host}/life/web:2`], { env });
    assert.match(again.stderr, /is on this host/);
    assert.equal(again.stdout, pulled.stdout);
    await assert.rejects(run(HANGAR, ['image', 'pull', `${registry.host}/life/none:1`], { env }), /could not be pulled: .*answered 404/);
  });

  it('keeps the rootfs across restarts with persist "restart", and boots a new image on update', async () => {
    const machine = await create({ image: `${registry.host}/life/web:1`, rootfs: { persist: 'restart' }, restart: { policy: 'no' } });
    await wait(machine.id, 'started');
    assert.equal(await textWhenUp(`http://[${machine.private_ip}]:8080/index.html`), `v1 ${machine.id}\n`);
    assert.equal((await exec(machine.id, ['touch', '/kept'])).exit_code, 0);
    await api('POST', `${machines}/${machine.id}/stop`);
    await wait(machine.id, 'stopped');
    await api('POST', `${machines}/${machine.id}/start`);
    await wait(machine.id, 'started');
    assert.equal((await exec(machine.id, ['ls', '/kept'])).exit_code, 0, 'persist "restart" keeps the rootfs while the version is the same');

    const updated = await api('POST', `${machines}/${machine.id}`, { config: { image: `${registry.host}/life/web:2`, restart: { policy: 'no' } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(updated.body.image_ref.tag, '2');
    await wait(machine.id, 'started', updated.body.instance_id);
    assert.equal(await textWhenUp(`http://[${machine.private_ip}]:8080/index.html`), `v2 ${machine.id}\n`, 'the new image boots');
    assert.notEqual((await exec(machine.id, ['ls', '/kept'])).exit_code, 0, 'a new image starts from a blank rootfs');
    const shown = (await api('GET', `${machines}/${machine.id}`)).body;
    assert.match(shown.image_ref.digest, /^sha256:/);
    const env = await exec(machine.id, ['sh', '-c', 'echo $FLY_IMAGE_REF $FLY_MACHINE_VERSION']);
    assert.equal(env.stdout, `${registry.host}/life/web@${shown.image_ref.digest} ${updated.body.instance_id}\n`);
    assert.equal((await api('DELETE', `${machines}/${machine.id}?force=true`)).status, 200);
  });

  it('destroys an auto_destroy machine when its process exits', async () => {
    const machine = await create({ image: `${registry.host}/life/web:1`, auto_destroy: true, restart: { policy: 'no' }, init: { cmd: ['sh', '-c', 'sleep 2; exit 3'] } });
    await wait(machine.id, 'destroyed');
    const shown = (await api('GET', `${machines}/${machine.id}`)).body;
    assert.equal(shown.state, 'destroyed');
    const exit = shown.events.find((e: { type: string }) => e.type === 'exit');
    assert.equal(exit.request.exit_event.exit_code, 3);
    assert.equal(existsSync(join(dir, 'data', 'machines', machine.id)), false, 'nothing left on the host');
  });

  it('reports an out-of-memory kill in the exit event', async () => {
    // awk doubles a string until the 256 MB guest has no memory left; the kernel kills it.
    const machine = await create({
      image: `${registry.host}/life/web:1`, guest: { cpus: 1, memory_mb: 256 }, restart: { policy: 'no' },
      init: { cmd: ['awk', 'BEGIN { s = "x"; while (1) s = s s }'] },
    });
    await wait(machine.id, 'stopped');
    const exit = (await api('GET', `${machines}/${machine.id}/events`)).body.find((e: { type: string }) => e.type === 'exit');
    assert.equal(exit.request.exit_event.oom_killed, true, JSON.stringify(exit));
    assert.equal(exit.request.exit_event.signal, 9);
    assert.equal(exit.request.exit_event.requested_stop, false);
    assert.equal((await api('DELETE', `${machines}/${machine.id}`)).status, 200);
  });

  it('boots an image from an OCI layout on the host', async () => {
    const layout = join(dir, 'layout');
    writeOciLayout(layout, await buildImage([{ compression: 'gzip', files: busyboxLayer(APPLETS) }], webConfig('layout')), 'v1');
    const machine = await create({ image: `oci:${layout}:v1`, restart: { policy: 'no' } });
    assert.deepEqual([machine.image_ref.registry, machine.image_ref.repository, machine.image_ref.tag], ['oci', layout, 'v1']);
    await wait(machine.id, 'started');
    assert.equal(await textWhenUp(`http://[${machine.private_ip}]:8080/index.html`), `layout ${machine.id}\n`);
    assert.equal((await api('DELETE', `${machines}/${machine.id}?force=true`)).status, 200);
  });
});
