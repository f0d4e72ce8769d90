/**
 * A machine whose hangar is killed keeps running (VMs outlive hangar by design) and
 * costs its host next to nothing meanwhile: under TCG a guest that never sleeps
 * takes a whole host CPU. A new hangar reattaches to the same QEMU and reaches the
 * guest at once, twice over (the guest notices each time its host goes and comes).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxLayer } from '../helpers/image-build.ts';
import { cpuPercentOver } from '../helpers/process-cpu.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

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
    registry = await startRegistry();
    await pushImage(registry.host, 'dead/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd']) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
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
  const echo = async (id: string, word: string) => {
    const reply = await api('POST', `${machines}/${id}/exec`, { command: ['echo', word] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.stdout, `${word}\n`);
  };

  it('idles while hangar is down, and a new hangar reattaches and reaches the guest', async (t) => {
    const created = await api('POST', machines, { config: { image, restart: { policy: 'no' }, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await api('GET', `${machines}/${id}/wait?state=started&timeout=60`)).status, 200);
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

    assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);
    assert.equal((await api('GET', `${machines}/${id}/wait?state=destroyed&timeout=60`)).status, 200);
  });
});
