/**
 * A machine whose hangar is killed keeps running (VMs outlive hangar by design) and
 * costs its host next to nothing meanwhile: under TCG a guest that never sleeps
 * takes a whole host CPU. A new hangar reattaches to the same QEMU and reaches the
 * guest at once, twice over (the guest notices each time its host goes and comes).
 * The guest's /.fly/api connections that the dead hangar was answering end; those
 * made while it is down wait, and the new hangar answers them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxLayer } from '../helpers/image-build.ts';
import { cpuPercentOver } from '../helpers/process-cpu.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';
/** An idle guest uses 1-2 % of a CPU here; one that spins, 100 %. CI machines are noisy: the bound is generous. */
const MAX_CPU_PERCENT = 25;

describe('a machine whose hangar is down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-dead-agent-'));
  const data = join(dir, 'data');
  const netns = `hgr-dead-${Math.random().toString(16).slice(2, 6)}`;
  const start = () => startServerProcess(data, 'dead-token', ['--driver', 'qemu', '--netns', netns]);
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    const client = join(dir, 'half-close');
    execFileSync('gcc', ['-static', '-Os', '-Wall', '-Werror', '-o', client, join(ROOT, 'test/helpers/half-close.c')]);
    registry = await startRegistry();
    await pushImage(registry.host, 'dead/app', '1', [{
      compression: 'gzip',
      files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd', 'cat', 'sleep'], { '/bin/half-close': { mode: 0o755, content: readFileSync(client) } }),
    }], { config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] } });
    image = `${registry.host}/dead/app:1`;
    server = await start();
    assert.equal((await api('POST', '/v1/apps', { name: 'dead' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const machines = '/v1/apps/dead/machines';
  const qemuPid = (id: string) => Number(readFileSync(join(data, 'machines', id, 'qemu.pid'), 'utf8'));
  const sh = async (id: string, script: string) => {
    const reply = await api('POST', `${machines}/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return String(reply.body.stdout);
  };
  const echo = async (id: string, word: string) => assert.equal(await sh(id, `echo ${word}`), `${word}\n`);
  const create = async () => {
    const created = await api('POST', machines, { config: { image, restart: { policy: 'no' }, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await api('GET', `${machines}/${id}/wait?state=started&timeout=60`)).status, 200);
    return id;
  };
  const destroy = async (id: string) => {
    assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);
    assert.equal((await api('GET', `${machines}/${id}/wait?state=destroyed&timeout=60`)).status, 200);
  };

  it('idles while hangar is down, and a new hangar reattaches and reaches the guest', async (t) => {
    const id = await create();
    const pid = qemuPid(id);
    await echo(id, 'booted');

    for (const round of [1, 2]) {
      await server.kill();
      // The guest hears its host go within milliseconds; the boot's own work is long done.
      await sleep(1000);
      const [cpu] = await cpuPercentOver([pid], 6000);
      t.diagnostic(`round ${round}: QEMU used ${cpu!.toFixed(1)} % of a CPU with hangar down`);
      assert.ok(cpu! < MAX_CPU_PERCENT, `round ${round}: QEMU used ${cpu!.toFixed(1)} % of a CPU while hangar was down`);

      server = await start();
      assert.equal((await api('GET', `${machines}/${id}`)).body.state, 'started');
      assert.equal(qemuPid(id), pid, 'the same QEMU: reattached, not rebooted');
      await echo(id, `reattached-${round}`);
    }
    await destroy(id);
  });

  it('ends the /.fly/api connections the dead hangar had, and answers those made while it was down', async () => {
    const id = await create();
    const machine = `/v1/apps/dead/machines/${id}`;
    // Clients in the background (`exec` waits for nothing of theirs), each writing what it got and its exit status to a file.
    const client = (file: string, delay: number, path: string) => `(sleep ${delay}; half-close GET '${path}'; echo " exit=$?") > ${file} 2>&1 < /dev/null &`;
    // One asks hangar to wait a minute for a state that will not come: hangar holds its answer when it is killed.
    await sh(id, client('/tmp/held', 0, `${machine}/wait?state=stopped&timeout=60`));
    // The other asks 3 s later, while no hangar is there.
    await sleep(2000);
    await sh(id, client('/tmp/later', 3, machine));
    await server.kill();
    await sleep(6000);
    server = await start();
    assert.equal(await sh(id, 'cat /tmp/held'), ' exit=0\n', 'the held connection ended when hangar went, without an answer');
    let later = '';
    for (let i = 0; i < 50 && !later.includes('exit='); i++) {
      later = await sh(id, 'cat /tmp/later');
      if (!later.includes('exit=')) await sleep(200);
    }
    assert.match(later, /^HTTP\/1\.1 200 /, `the connection made while hangar was down is answered by the next one: ${later}`);
    assert.match(later, / exit=0$/m);
    await destroy(id);
  });
});
