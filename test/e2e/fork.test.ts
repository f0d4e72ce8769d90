/**
 * Fork on real microVMs, through `hangar serve --driver qemu`: the children of a
 * machine with a counter in memory continue the counter from the parent's value,
 * with the parent's processes, each with its own boot_id, host name, address and
 * randomness, while the parent runs on as it was; a child's own suspend and resume
 * work, again and again, and a resumed child forks in turn; a child does not boot.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { textWhenUp } from '../helpers/http.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'httpd', 'mkdir', 'pidof', 'mv', 'hostname', 'od', 'head'];
const TOKEN = 'fork-token';
/** httpd, and a counter that lives only in the shell's memory (the file shows it). */
const APP = 'mkdir -p /www; echo up > /www/index.html; httpd -p 8080 -h /www; i=0; while true; do i=$((i+1)); echo $i > /www/count.new; mv /www/count.new /www/count; sleep 0.2; done';

describe('fork on real machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-fork-'));
  const data = join(dir, 'data');
  const netns = `hgr-fork-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'fork/app', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/fork/app:1`;
    server = await startServerProcess(data, TOKEN, ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await api('POST', '/v1/apps', { name: 'forks' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  const machines = '/v1/apps/forks/machines';
  const wait = async (id: string, state: string) => {
    const reply = await api('GET', `${machines}/${id}/wait?state=${state}&timeout=60`);
    assert.equal(reply.status, 200, `wait ${state}: ${JSON.stringify(reply.body)}`);
  };
  const sh = async (id: string, script: string) => {
    const reply = await api('POST', `${machines}/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return (reply.body as { stdout: string }).stdout.trim();
  };
  /** boot_id, host name, httpd's pid, the counter, and 8 fresh random bytes. */
  const guest = async (id: string) => {
    const [bootId, hostname, httpd, count, random] = (await sh(id, 'cat /proc/sys/kernel/random/boot_id; hostname; pidof httpd; cat /www/count; head -c 8 /dev/urandom | od -An -tx1')).split('\n');
    return { bootId, hostname, httpd, count: Number(count), random: random?.trim() };
  };
  const count = async (ip: string) => Number(await textWhenUp(`http://[${ip}]:8080/count`));

  it('gives children that continue the parent\'s memory as machines of their own, while the parent runs on', async () => {
    const created = await api('POST', machines, { config: { image, restart: { policy: 'no' } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const parent = created.body as { id: string; private_ip: string };
    await wait(parent.id, 'started');
    await count(parent.private_ip);
    await sleep(3000); // the counter gets well past what a fresh boot would show
    const before = await guest(parent.id);
    assert.ok(before.count >= 5, `parent counter ${before.count}`);

    const reply = await api('POST', `/hangar/v1/apps/forks/machines/${parent.id}/fork`, { count: 2 });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const children = reply.body as Array<{ id: string; private_ip: string }>;
    assert.equal(children.length, 2);
    for (const child of children) await wait(child.id, 'started');

    const seen = [await guest(parent.id)];
    assert.equal(seen[0]!.bootId, before.bootId, 'the parent runs on: same boot');
    assert.equal(seen[0]!.httpd, before.httpd, 'same processes');
    assert.ok(seen[0]!.count > before.count, 'its counter goes on');
    for (const child of children) {
      const now = await guest(child.id);
      assert.ok(now.count >= before.count, `child ${child.id} continues the counter (${now.count}) from the parent's (${before.count})`);
      assert.equal(now.httpd, before.httpd, 'a child has the parent\'s processes: it did not boot');
      assert.equal(now.hostname, child.id);
      assert.match(now.bootId ?? '', /^[0-9a-f-]{36}$/);
      seen.push(now);
      // Its own address answers, with its own counter.
      assert.ok((await count(child.private_ip)) >= before.count);
      const events = (await api('GET', `${machines}/${child.id}/events`)).body as Array<{ type: string; request: Record<string, unknown> }>;
      assert.equal(events.find((e) => e.type === 'start')?.request.resumed, true);
    }
    assert.equal(new Set(seen.map((g) => g.bootId)).size, 3, 'each child has its own boot_id');
    assert.equal(new Set(seen.map((g) => g.random)).size, 3, 'and its own randomness');
    assert.equal((await count(parent.private_ip)) > 0, true, 'the parent still answers at its address');

    // A child is a machine like any other: it suspends and resumes where it was.
    const child = children[0]!;
    const atSuspend = await guest(child.id);
    assert.equal((await api('POST', `${machines}/${child.id}/suspend`)).status, 200);
    await wait(child.id, 'suspended');
    assert.equal((await api('POST', `${machines}/${child.id}/start`)).status, 200);
    await wait(child.id, 'started');
    const resumed = await guest(child.id);
    assert.equal(resumed.bootId, atSuspend.bootId);
    assert.ok(resumed.count >= atSuspend.count);

    // Once resumed, its RAM is in a file of its own: it suspends, resumes and forks again as a booted machine does.
    const resumedOnce = (await api('GET', `${machines}/${child.id}/events`)).body.length;
    assert.equal((await api('POST', `${machines}/${child.id}/suspend`)).status, 200);
    await wait(child.id, 'suspended');
    assert.equal((await api('POST', `${machines}/${child.id}/start`)).status, 200);
    await wait(child.id, 'started');
    const starts = ((await api('GET', `${machines}/${child.id}/events`)).body as Array<{ type: string; request: Record<string, unknown> }>).slice(0, -resumedOnce);
    assert.deepEqual(starts.filter((e) => e.type === 'start' && e.request.resumed !== undefined).map((e) => [e.request.resumed, e.request.cold_boot_reason]), [[true, undefined]], 'resumed the second time too');
    assert.equal((await guest(child.id)).bootId, atSuspend.bootId);
    const grandchildren = await api('POST', `/hangar/v1/apps/forks/machines/${child.id}/fork`, { count: 1 });
    assert.equal(grandchildren.status, 200, JSON.stringify(grandchildren.body));
    const grandchild = (grandchildren.body as Array<{ id: string }>)[0]!;
    await wait(grandchild.id, 'started');
    const grandEvents = (await api('GET', `${machines}/${grandchild.id}/events`)).body as Array<{ type: string; request: Record<string, unknown> }>;
    assert.deepEqual(grandEvents.filter((e) => e.type === 'start' && e.request.resumed !== undefined).map((e) => [e.request.resumed, e.request.cold_boot_reason]), [[true, undefined]], 'a fork of a fork resumes its parent\'s memory');
    assert.equal((await guest(grandchild.id)).httpd, before.httpd, 'the first parent\'s processes still');
    children.push(grandchild as { id: string; private_ip: string });

    for (const id of [parent.id, ...children.map((c) => c.id)]) assert.equal((await api('DELETE', `${machines}/${id}?force=true`)).status, 200);
  });
});
