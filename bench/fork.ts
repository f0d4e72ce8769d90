/**
 * Fork benchmark, in one run on `hangar serve --driver qemu`, 256 MB
 * busybox-httpd machines whose counter lives in memory:
 *
 * - resume (the baseline): POST start of a suspended machine → its app answers HTTP;
 * - fork, 1 child: POST fork → the child's app answers on the child's own address;
 * - fork, 10 children: POST fork count 10 → each child's app answers;
 * - host memory per idle child: once the 10 have idled BENCH_SETTLE_S (default 30),
 *   the children's QEMU PSS (their share of the frozen RAM they map, their own
 *   copied pages, QEMU and TCG's buffers) and the drop in MemAvailable, each per
 *   child; against the parent's PSS, which is what a machine booted on its own costs.
 *
 * Prints figures; asserts nothing. Needs root.   node bench/fork.ts   (BENCH_RUNS, default 5)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess } from '../test/helpers/server-process.ts';
import { answered, figureTable, formatTimes, machineFacts, memAvailable, pssOf } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 30);
const CHILDREN = 10;
const MB = 1 << 20;
const APP = 'mkdir -p /www; echo up > /www/index.html; httpd -p 8080 -h /www; i=0; while true; do i=$((i+1)); echo $i > /www/count.new; mv /www/count.new /www/count; sleep 1; done';
const { report, printTable } = figureTable();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

console.log(`machine: ${machineFacts()}`);
const dir = mkdtempSync(join(tmpdir(), 'hangar-fork-bench-'));
const data = join(dir, 'data');
const netns = `hgr-fb-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
await pushImage(registry.host, 'fork/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd', 'mv', 'sleep']) }], {
  config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
});
const server = await startServerProcess(data, 'bench', ['--driver', 'qemu', '--netns', netns]);
const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
const machines = '/v1/apps/forks/machines';
const pidOf = (id: string) => readFileSync(join(data, 'machines', id, 'qemu.pid'), 'utf8').trim();
/** A child's PSS in its guest RAM mapping (its share of the frozen RAM, and the pages it copied) and in the rest of QEMU. */
const childParts = (id: string) => {
  const parts = { frozenShare: 0, copied: 0, qemu: 0 };
  let inRam = false;
  for (const line of readFileSync(`/proc/${pidOf(id)}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inRam = line.includes('.forks/');
    const field = /^(Pss|Anonymous):\s+(\d+) kB/.exec(line);
    if (!field) continue;
    const bytes = Number(field[2]) * 1024;
    if (!inRam) parts.qemu += field[1] === 'Pss' ? bytes : 0;
    else if (field[1] === 'Anonymous') parts.copied += bytes;
    else parts.frozenShare += bytes;
  }
  // Pss of the RAM mapping counts the copied pages too.
  parts.frozenShare -= parts.copied;
  return parts;
};
const create = async () => {
  const reply = await api('POST', machines, { config: { image: `${registry.host}/fork/app:1`, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, restart: { policy: 'no' } } });
  await api('GET', `${machines}/${reply.body.id}/wait?state=started&timeout=60`);
  await answered(`http://[${reply.body.private_ip}]:8080/count`);
  return reply.body as { id: string; private_ip: string };
};
const destroy = async (id: string) => {
  await api('DELETE', `${machines}/${id}?force=true`);
  await api('GET', `${machines}/${id}/wait?state=destroyed&timeout=60`);
};
const fork = async (id: string, count: number) => {
  const started = performance.now();
  const reply = await api('POST', `/hangar/v1/apps/forks/machines/${id}/fork`, { count });
  if (reply.status !== 200) throw new Error(`fork: ${JSON.stringify(reply.body)}`);
  const children = reply.body as Array<{ id: string; private_ip: string }>;
  const answers = await Promise.all(children.map(async (child) => (await answered(`http://[${child.private_ip}]:8080/count`)) - started));
  return { children, answers };
};

try {
  await api('POST', '/v1/apps', { name: 'forks' });
  const resumed = await create();
  const resumes: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await api('POST', `${machines}/${resumed.id}/suspend`);
    await api('GET', `${machines}/${resumed.id}/wait?state=suspended&timeout=60`);
    await sleep(500);
    const started = performance.now();
    await api('POST', `${machines}/${resumed.id}/start`);
    resumes.push((await answered(`http://[${resumed.private_ip}]:8080/count`)) - started);
  }
  await destroy(resumed.id);
  report('resume: POST start → app answers (baseline)', formatTimes(resumes));

  const parent = await create();
  const single: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { children, answers } = await fork(parent.id, 1);
    single.push(answers[0]!);
    for (const child of children) await destroy(child.id);
  }
  report('fork, 1 child: POST fork → the child answers', formatTimes(single), `${(median(single) / median(resumes)).toFixed(2)}× resume (aim ≤ 1.5×)`);

  const before = memAvailable();
  const { children, answers } = await fork(parent.id, CHILDREN);
  report(`fork, ${CHILDREN} children: POST fork → each child answers`, formatTimes(answers), `${(median(answers) / median(resumes)).toFixed(2)}× resume at the median, ${(Math.max(...answers) / median(resumes)).toFixed(2)}× for the last`);
  await sleep(SETTLE_S * 1000);
  const childPss = children.map((child) => pssOf(pidOf(child.id)));
  const parts = children.map((child) => childParts(child.id));
  const mean = (pick: (p: ReturnType<typeof childParts>) => number) => `${(parts.reduce((sum, p) => sum + pick(p), 0) / CHILDREN / MB).toFixed(1)} MB`;
  report(`host memory per idle child (${CHILDREN} children, after ${SETTLE_S} s)`,
    `${((childPss.reduce((a, b) => a + b, 0) / CHILDREN) / MB).toFixed(1)} MB PSS`,
    `MemAvailable drop ${(((before - memAvailable()) / CHILDREN) / MB).toFixed(1)} MB per child; the parent, a machine booted on its own: ${(pssOf(pidOf(parent.id)) / MB).toFixed(0)} MB PSS (aim ≤ 16 MiB per child)`);
  report('  of which its share of the frozen RAM', mean((p) => p.frozenShare));
  report('  of which guest pages it copied (wrote)', mean((p) => p.copied));
  report('  of which QEMU itself (heap, TCG code buffer, libraries)', mean((p) => p.qemu));
  for (const child of children) await destroy(child.id);
  await destroy(parent.id);
} finally {
  await cleanUpRealServer(server, data, netns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
printTable();
