/**
 * hangar killed at every named failpoint of create, boot, suspend, resume and
 * destroy (HANGAR_FAILPOINTS=<name>=crash SIGKILLs `hangar serve` there), then
 * started again without failpoints, on real microVMs. What it must converge to:
 *
 * - every acknowledged request is carried out: a created machine runs, an
 *   acknowledged suspend ends `suspended`, an acknowledged start ends `started`,
 *   an acknowledged destroy ends `destroyed`;
 * - a VM that runs really runs (it answers an exec), and where a resume or a
 *   continue was possible the guest's memory is intact (a /dev/shm marker and its
 *   boot); otherwise it booted cold and its start event says why;
 * - nothing is left behind: after the destroy, no QEMU, no TAP, no machine files.
 *
 * One data directory, app and image serve every failpoint; each case starts the
 * server with its failpoint and one machine.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { FailpointName } from '../../src/system/failpoints.ts';
import { qemuOf, tapExists as tapOf } from '../helpers/host-traces.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const TOKEN = 'crash-token';
const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';

type Operation = 'create' | 'suspend' | 'resume' | 'destroy';

/** Each failpoint, the request it interrupts, and whether the guest's memory must survive it. */
const CASES: Array<{ failpoint: FailpointName; op: Operation; memoryKept?: boolean }> = [
  { failpoint: 'create.after-prepare', op: 'create' },
  { failpoint: 'boot.after-qemu-start', op: 'create' },
  { failpoint: 'boot.before-report', op: 'create' },
  { failpoint: 'suspend.after-sync', op: 'suspend', memoryKept: true },
  { failpoint: 'suspend.after-stop', op: 'suspend', memoryKept: true },
  { failpoint: 'suspend.mid-save', op: 'suspend', memoryKept: true },
  { failpoint: 'suspend.after-save', op: 'suspend', memoryKept: true },
  { failpoint: 'suspend.after-quit', op: 'suspend', memoryKept: true },
  { failpoint: 'suspend.before-report', op: 'suspend', memoryKept: true },
  { failpoint: 'resume.after-consume', op: 'resume', memoryKept: false },
  { failpoint: 'resume.after-qemu-start', op: 'resume', memoryKept: false },
  { failpoint: 'resume.mid-load', op: 'resume', memoryKept: false },
  { failpoint: 'resume.after-load', op: 'resume', memoryKept: true },
  { failpoint: 'resume.before-report', op: 'resume', memoryKept: true },
  { failpoint: 'destroy.after-kill', op: 'destroy' },
  { failpoint: 'destroy.before-report', op: 'destroy' },
];

describe('crash points: hangar killed at each failpoint converges after a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-crash-'));
  const data = join(dir, 'data');
  const netns = `hgr-crsh-${Math.random().toString(16).slice(2, 6)}`;
  const args = ['--driver', 'qemu', '--netns', netns];
  let registry: Registry;
  let image: string;
  let server: ServerProcess | undefined;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'crash/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'cat', 'echo', 'mkdir', 'httpd']) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/crash/app:1`;
    server = await startServerProcess(data, TOKEN, args);
    assert.equal((await request(server, 'POST', '/v1/apps', { name: 'crash' })).status, 201);
    await server.stop();
    server = undefined;
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const live = () => server as ServerProcess;
  const api = (method: string, path: string, body?: unknown) => request(live(), method, path, body);
  const machines = '/v1/apps/crash/machines';
  const wait = async (id: string, state: string) => {
    const reply = await api('GET', `${machines}/${id}/wait?state=${state}&timeout=60`);
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}; now ${JSON.stringify((await api('GET', `${machines}/${id}`)).body?.state)}`);
  };
  const exec = async (id: string, script: string) => {
    const reply = await api('POST', `${machines}/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return String(reply.body.stdout);
  };
  const memory = (id: string) => exec(id, 'cat /dev/shm/mark /proc/sys/kernel/random/boot_id');
  const lastStart = async (id: string) => {
    const events = (await api('GET', `${machines}/${id}`)).body.events as Array<{ type: string; status: string; request: Record<string, unknown> }>;
    return events.find((e) => e.type === 'start' && e.status === 'started')?.request ?? {};
  };
  const tapExists = (id: string) => tapOf(netns, id);
  /** The server dies at its failpoint; a request cut off by the crash may fail. */
  const crashed = async (failpoint: string) => {
    const signal = await Promise.race([live().exited, sleep(120_000).then(() => 'timeout')]);
    assert.equal(signal, 'SIGKILL', `hangar was not killed at ${failpoint}:\n${live().output()}`);
    assert.match(live().output(), new RegExp(`failpoint ${failpoint.replace('.', '\\.')}: crash`));
    server = undefined;
  };
  /**
   * The request the failpoint interrupts. It is recorded before its work runs, and the
   * work may reach the failpoint before the answer leaves (a destroy's kill is quick):
   * an answer, if one comes, is 200; a cut-off one is carried out all the same.
   */
  const interrupted = async (method: string, path: string) => {
    const reply = await api(method, path).catch(() => undefined);
    if (reply) assert.equal(reply.status, 200, JSON.stringify(reply.body));
  };
  const create = async () => {
    const reply = await api('POST', machines, { config: { image, restart: { policy: 'no' } } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.id as string;
  };

  for (const { failpoint, op, memoryKept } of CASES) {
    it(`${failpoint}: ${op}`, async () => {
      try {
        await crashCase(failpoint, op, memoryKept);
      } finally {
        await server?.stop();
        server = undefined;
      }
    });
  }

  async function crashCase(failpoint: FailpointName, op: Operation, memoryKept: boolean | undefined): Promise<void> {
    server = await startServerProcess(data, TOKEN, args, { HANGAR_FAILPOINTS: `${failpoint}=crash` });
    let id: string | undefined;
    let mark = '';
    if (op === 'create') {
      const known = new Set(((await api('GET', machines)).body as Array<{ id: string }>).map((m) => m.id));
      // The create is answered after the image is prepared: a crash before that cuts it off.
      id = await create().catch(() => undefined);
      await crashed(failpoint);
      server = await startServerProcess(data, TOKEN, args);
      id ??= ((await api('GET', machines)).body as Array<{ id: string }>).find((m) => !known.has(m.id))?.id;
      assert.ok(id, 'the machine was recorded before the crash');
      await wait(id, 'started');
      assert.equal(await exec(id, 'echo alive'), 'alive\n', 'the VM runs');
    } else {
      id = await create();
      await wait(id, 'started');
      await exec(id, `echo ${id}-${Date.now()} > /dev/shm/mark`);
      mark = await memory(id);
      if (op === 'suspend') {
        await interrupted('POST', `${machines}/${id}/suspend`);
      } else if (op === 'resume') {
        assert.equal((await api('POST', `${machines}/${id}/suspend`)).status, 200);
        await wait(id, 'suspended');
        await interrupted('POST', `${machines}/${id}/start`);
      } else {
        await interrupted('DELETE', `${machines}/${id}?force=true`);
      }
      await crashed(failpoint);
      server = await startServerProcess(data, TOKEN, args);
    }

    if (op === 'suspend') {
      await wait(id, 'suspended');
      assert.equal(qemuOf(id), '', 'a suspended machine has no QEMU');
      assert.equal((await api('POST', `${machines}/${id}/start`)).status, 200);
      await wait(id, 'started');
      const started = await lastStart(id);
      assert.equal(started.resumed, true, `resumed after the interrupted suspend: ${JSON.stringify(started)}`);
      assert.equal(await memory(id), mark, 'the guest\'s memory is intact');
    } else if (op === 'resume') {
      await wait(id, 'started');
      const started = await lastStart(id);
      assert.equal(await exec(id, 'echo alive'), 'alive\n', 'the VM runs');
      if (memoryKept) {
        assert.equal(started.resumed, true, JSON.stringify(started));
        assert.equal(await memory(id), mark, 'the guest\'s memory is intact');
      } else {
        assert.equal(started.resumed, false, JSON.stringify(started));
        assert.match(String(started.cold_boot_reason ?? ''), /^hangar stopped during a resume, before QEMU had loaded the VM state/, 'a cold boot says why');
        assert.notEqual((await exec(id, 'cat /proc/sys/kernel/random/boot_id')).trim(), mark.split('\n')[1], 'a new boot');
      }
    }
    if (op !== 'destroy') assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);
    await wait(id, 'destroyed');
    for (let i = 0; i < 50 && qemuOf(id); i++) await sleep(100);
    assert.equal(qemuOf(id), '', 'no QEMU left');
    assert.equal(tapExists(id), false, 'no TAP left');
    assert.equal(existsSync(join(data, 'machines', id)), false, 'no machine files left');
  }
});
