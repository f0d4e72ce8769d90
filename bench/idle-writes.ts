/**
 * Disk writes of idle machines: one machine that may be suspended (its
 * RAM in a shared file) and one that may not (a schedule makes it ineligible, so its
 * RAM is anonymous), side by side on one `hangar serve --driver qemu`, both 256 MB
 * running busybox httpd and nothing else. After the boot settles, QEMU's
 * `write_bytes` (/proc/PID/io) is read over each minute. Prints figures; asserts nothing.
 *
 *   node bench/idle-writes.ts      (BENCH_MINUTES, default 2; BENCH_SETTLE_S, default 15)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess } from '../test/helpers/server-process.ts';
import { figureTable, machineFacts } from './lib.ts';

const MINUTES = Number(process.env.BENCH_MINUTES ?? 2);
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 15);
const KiB = 1024;
const { report, printTable } = figureTable();

console.log(`machine: ${machineFacts()}`);
const dir = mkdtempSync(join(tmpdir(), 'hangar-idle-writes-'));
const data = join(dir, 'data');
const netns = `hgr-iw-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
await pushImage(registry.host, 'idle/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd']) }], {
  config: { Cmd: ['/bin/sh', '-c', 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www'], Env: ['PATH=/bin'] },
});
const server = await startServerProcess(data, 'bench', ['--driver', 'qemu', '--netns', netns]);
try {
  await request(server, 'POST', '/v1/apps', { name: 'idle' });
  const create = async (extra: Record<string, unknown>) => {
    const reply = await request(server, 'POST', '/v1/apps/idle/machines', {
      config: { image: `${registry.host}/idle/app:1`, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, ...extra },
    });
    await request(server, 'GET', `/v1/apps/idle/machines/${reply.body.id}/wait?state=started&timeout=60`);
    return reply.body.id as string;
  };
  const machines = { eligible: await create({}), 'not eligible': await create({ schedule: 'monthly' }) };
  const written = (id: string) => {
    const pid = readFileSync(join(data, 'machines', id, 'qemu.pid'), 'utf8').trim();
    return Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
  };
  await sleep(SETTLE_S * 1000);
  const perMinute: Record<string, number[]> = { eligible: [], 'not eligible': [] };
  for (let minute = 0; minute < MINUTES; minute++) {
    const before = Object.fromEntries(Object.entries(machines).map(([kind, id]) => [kind, written(id)]));
    await sleep(60_000);
    for (const [kind, id] of Object.entries(machines)) perMinute[kind]?.push(written(id) - (before[kind] as number));
  }
  for (const [kind, bytes] of Object.entries(perMinute)) {
    report(`disk writes of an idle 256 MB machine, ${kind} for suspend`, `${(Math.max(...bytes) / KiB).toFixed(0)} KiB/min at most`,
      `(${bytes.map((b) => `${(b / KiB).toFixed(0)} KiB`).join(', ')} in ${MINUTES} minutes, after ${SETTLE_S} s to settle)`);
  }
  for (const id of Object.values(machines)) {
    await request(server, 'DELETE', `/v1/apps/idle/machines/${id}?force=true`);
    await request(server, 'GET', `/v1/apps/idle/machines/${id}/wait?state=destroyed&timeout=60`);
  }
} finally {
  await cleanUpRealServer(server, data, netns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
printTable();
