/**
 * A started machine's VM that stops running is noticed, on real microVMs: QEMU
 * killed (seen at once, as the VMM's end, not the app's exit) or frozen (SIGSTOP:
 * QEMU no longer answers query-status, found by the watchdog). Either way the VM
 * is ended, the restart policy applies, and the exit event says why.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../helpers/http.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';

describe('the watchdog and the VMM\'s end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-watchdog-'));
  const data = join(dir, 'data');
  const netns = `hgr-wdog-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'wd/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'cat', 'echo', 'mkdir', 'httpd']) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/wd/app:1`;
    server = await startServerProcess(data, 'wd-token', ['--driver', 'qemu', '--netns', netns, '--watchdog-interval', '2s']);
    assert.equal((await request(server, 'POST', '/v1/apps', { name: 'wd' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const machines = '/v1/apps/wd/machines';
  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const qemuPid = (id: string) => Number(readFileSync(join(data, 'machines', id, 'qemu.pid'), 'utf8'));
  const bootId = async (id: string) => (await api('POST', `${machines}/${id}/exec`, { command: ['cat', '/proc/sys/kernel/random/boot_id'] })).body.stdout as string;
  const exitEvent = async (id: string) => ((await api('GET', `${machines}/${id}`)).body.events as Array<{ type: string; request: Record<string, any> }>) // eslint-disable-line @typescript-eslint/no-explicit-any
    .find((e) => e.type === 'exit')?.request;
  const running = async (id: string) => {
    const reply = await api('GET', `${machines}/${id}/wait?state=started&timeout=60`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  };

  it('reports a QEMU that was killed as the VMM\'s end, and restarts the machine', async () => {
    const machine = (await api('POST', machines, { config: { image } })).body as { id: string };
    await running(machine.id);
    const boot = await bootId(machine.id);
    process.kill(qemuPid(machine.id), 'SIGKILL');
    await until(async () => (await exitEvent(machine.id)) !== undefined, 'an exit event', 30_000);
    const exit = await exitEvent(machine.id);
    assert.match(String(exit?.vmm_exit?.reason), /QEMU ended without shutting the VM down \(it was killed or crashed\)/);
    assert.ok(Array.isArray(exit?.vmm_exit?.log), 'with the tail of QEMU\'s log');
    assert.equal(exit?.exit_event.restarting, true);
    await until(async () => (await api('GET', `${machines}/${machine.id}`)).body.state === 'started' && (await bootId(machine.id).catch(() => boot)) !== boot, 'a new boot', 60_000);
    assert.equal((await api('DELETE', `${machines}/${machine.id}?force=true`)).status, 200);
  });

  it('finds a frozen QEMU (it answers nothing), ends it and applies the restart policy', async () => {
    const machine = (await api('POST', machines, { config: { image, restart: { policy: 'no' } } })).body as { id: string };
    await running(machine.id);
    const pid = qemuPid(machine.id);
    process.kill(pid, 'SIGSTOP');
    try {
      await until(async () => (await api('GET', `${machines}/${machine.id}`)).body.state === 'stopped', 'the watchdog to stop it', 60_000);
    } finally {
      try { process.kill(pid, 'SIGCONT'); } catch { /* ended */ }
    }
    const exit = await exitEvent(machine.id);
    assert.match(String(exit?.vmm_exit?.reason), /QEMU does not answer/);
    assert.equal(exit?.exit_event.restarting, false);
    // A zombie has an empty command line: ended.
    const alive = existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu');
    assert.equal(alive, false, 'the frozen QEMU was ended');
    assert.equal((await api('DELETE', `${machines}/${machine.id}`)).status, 200);
  });
});
