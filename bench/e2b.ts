/**
 * E2B sandbox benchmark, on real microVMs behind `hangar serve --driver qemu`,
 * driven by the `e2b` SDK through hangar's API and edge proxy (a busybox template,
 * 1 CPU, 256 MB).
 *
 * - create → first command answered (`Sandbox.create` then `commands.run('echo')`),
 *   over N sandboxes made one after another and N made at once, and N one after
 *   another from a snapshot template (forks of its running base); each sandbox
 *   killed after.
 *   With spares (BENCH_SPARES, default 1: `hangar serve --e2b-spares`), each of
 *   those creates waits first until a spare is ready, as creates spaced apart find it.
 * - the same N at once from the snapshot template (creates at once share forks).
 * - pause (`sandbox.pause()`, a suspend) and connect (`Sandbox.connect`, the resume
 *   and the agent's health check) of one sandbox, N times; pause of a 1 GiB one.
 * - fork of a running sandbox into 10, until every child's agent answers.
 * - baseline, in the same run: a machine of the same image created and started
 *   through the Machines API, until its process answers (a cold boot, 5 times), and
 *   N suspends and resumes of one through the API.
 *
 * Prints figures; asserts nothing. Needs root and scripts/setup-guest.sh.
 *   node bench/e2b.ts   (BENCH_N, default 20)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Sandbox } from 'e2b';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess } from '../test/helpers/server-process.ts';
import { answered, figureTable, formatTimes, machineFacts, summarize } from './lib.ts';

const N = Number(process.env.BENCH_N ?? 20);
const SPARES = Number(process.env.BENCH_SPARES ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-e2b-'));
const data = join(dir, 'data');
const netns = `hgr-be2b-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
const { report, printTable } = figureTable();
await pushImage(registry.host, 'bench/sbx', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'echo', 'cat', 'sleep', 'mkdir', 'httpd']) }], {
  config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh', '-c', 'mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www'] },
});
const image = `${registry.host}/bench/sbx:1`;

console.log(`machine: ${machineFacts()}`);
const server = await startServerProcess(data, 'bench', ['--driver', 'qemu', '--netns', netns, '--autostop-after', '1h', '--e2b-spares', String(SPARES)]);
const api = (method: string, url: string, body?: unknown) => request(server, method, url, body);
try {
  const key = (await api('POST', '/hangar/v1/e2b/keys', { name: 'bench' })).body.key as string;
  await api('POST', '/hangar/v1/e2b/templates', { templateID: 'bench', image, cpuCount: 1, memoryMB: 256 });
  await api('POST', '/hangar/v1/e2b/templates', { templateID: 'warm', image, cpuCount: 1, memoryMB: 256, snapshot: true });
  await api('POST', '/hangar/v1/e2b/templates', { templateID: 'big', image, cpuCount: 1, memoryMB: 1024 });
  // The SDK's default request timeout is 60 s; many TCG boots at once on two cores take longer.
  const opts = { apiKey: key, apiUrl: `${server.url}/e2b`, sandboxUrl: server.proxyUrl, timeoutMs: 600_000, requestTimeoutMs: 600_000 };
  const firstCommand = async (template = 'bench') => {
    const start = performance.now();
    const sandbox = await Sandbox.create(template, opts);
    await sandbox.commands.run('echo ready');
    const ms = performance.now() - start;
    return { ms, sandbox };
  };

  // Warm the image cache: the first create pulls and unpacks it.
  await (await firstCommand()).sandbox.kill();

  // Baseline: a cold boot of the same image through the Machines API, and a suspend and resume.
  await api('POST', '/v1/apps', { name: 'baseline', org_slug: 'personal' });
  const boots: number[] = [];
  const suspends: number[] = [];
  const resumes: number[] = [];
  let made: { id: string; private_ip: string } | undefined;
  for (let i = 0; i < Math.min(N, 5); i++) {
    if (made) await api('DELETE', `/v1/apps/baseline/machines/${made.id}?force=true`);
    const start = performance.now();
    made = (await api('POST', '/v1/apps/baseline/machines', { config: { image, guest: { cpus: 1, memory_mb: 256 } } })).body as { id: string; private_ip: string };
    await answered(`http://[${made.private_ip}]:8080/`);
    boots.push(performance.now() - start);
  }
  // The bare resume, N times over one machine: the figure the snapshot creates are held against.
  for (let i = 0; made && i < N; i++) {
    let began = performance.now();
    await api('POST', `/v1/apps/baseline/machines/${made.id}/suspend`);
    await api('GET', `/v1/apps/baseline/machines/${made.id}/wait?state=suspended&timeout=60`);
    suspends.push(performance.now() - began);
    began = performance.now();
    await api('POST', `/v1/apps/baseline/machines/${made.id}/start`);
    await answered(`http://[${made.private_ip}]:8080/`);
    resumes.push(performance.now() - began);
  }
  if (made) await api('DELETE', `/v1/apps/baseline/machines/${made.id}?force=true`);

  console.log(`baseline: boot p50 ${summarize(boots).p50.toFixed(0)} ms`);
  const sequential: number[] = [];
  for (let i = 0; i < N; i++) {
    const { ms, sandbox } = await firstCommand();
    sequential.push(ms);
    await sandbox.kill();
  }
  console.log(`one at a time: p50 ${summarize(sequential).p50.toFixed(0)} ms`);
  // The snapshot template: its base boots with the first create, then every create is a fork of it.
  await (await firstCommand('warm')).sandbox.kill();
  /** Until the snapshot template has a started spare (none are kept without BENCH_SPARES). */
  const spareReady = async () => {
    for (let waited = 0; SPARES > 0 && waited < 120_000; waited += 50) {
      const machines = (await api('GET', '/v1/apps/e2b-personal/machines')).body as Array<{ state: string; config: { metadata?: Record<string, string> } }>;
      if (machines.some((m) => m.config.metadata?.['e2b.spare'] === 'warm' && m.state === 'started')) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const forkedCreates: number[] = [];
  for (let i = 0; i < N; i++) {
    await spareReady();
    const { ms, sandbox } = await firstCommand('warm');
    forkedCreates.push(ms);
    await sandbox.kill();
  }
  console.log(`from a snapshot template: p50 ${summarize(forkedCreates).p50.toFixed(0)} ms`);
  await spareReady();
  const forkedAtOnce = await Promise.all(Array.from({ length: N }, () => firstCommand('warm')));
  for (const { sandbox } of forkedAtOnce) await sandbox.kill();
  console.log(`from a snapshot template at once: p99 ${summarize(forkedAtOnce.map((each) => each.ms)).p99.toFixed(0)} ms`);
  const concurrent = await Promise.all(Array.from({ length: N }, () => firstCommand()));
  for (const { sandbox } of concurrent) await sandbox.kill();

  console.log(`at once: p99 ${summarize(concurrent.map((each) => each.ms)).p99.toFixed(0)} ms`);
  const pauses: number[] = [];
  const connects: number[] = [];
  const { sandbox } = await firstCommand();
  for (let i = 0; i < N; i++) {
    let began = performance.now();
    await sandbox.pause();
    pauses.push(performance.now() - began);
    began = performance.now();
    const again = await Sandbox.connect(sandbox.sandboxId, opts);
    await again.commands.run('echo back');
    connects.push(performance.now() - began);
  }
  // Pause at 1 GiB: the guest's memory mostly untouched (a busybox), as a fresh sandbox's is.
  const big = (await firstCommand('big')).sandbox;
  const bigPauses: number[] = [];
  for (let i = 0; i < N; i++) {
    const pauseBegan = performance.now();
    await big.pause();
    bigPauses.push(performance.now() - pauseBegan);
    await (await Sandbox.connect(big.sandboxId, opts)).commands.run('echo back');
  }
  await big.kill();
  const began = performance.now();
  const children = await sandbox.fork({ count: 10 });
  const forkMs = performance.now() - began;
  const forked = children.filter((child) => !(child instanceof Error)).length;
  for (const child of children) if (!(child instanceof Error)) await child.kill();
  await sandbox.kill();

  report('baseline: cold boot of the image through the API, until it answers', formatTimes(boots));
  report('baseline: suspend through the API', formatTimes(suspends));
  report('baseline: resume through the API, until it answers', formatTimes(resumes));
  report(`create → first command, ${N} one after another`, formatTimes(sequential));
  report(`create → first command, ${N} at once`, formatTimes(concurrent.map((each) => each.ms)));
  report('create (one at a time) ÷ cold boot (p50)', (summarize(sequential).p50 / summarize(boots).p50).toFixed(2));
  report(`create → first command from a snapshot template (${SPARES > 0 ? 'a spare taken' : 'a fork'}), ${N} one after another`, formatTimes(forkedCreates), `--e2b-spares ${SPARES}`);
  report('create from a snapshot template ÷ the API\'s resume (p50)', (summarize(forkedCreates).p50 / summarize(resumes).p50).toFixed(2));
  report(`p99 of ${N} at once ÷ p50 of one at a time`, (summarize(concurrent.map((each) => each.ms)).p99 / summarize(sequential).p50).toFixed(2));
  report(`create → first command from a snapshot template, ${N} at once`, formatTimes(forkedAtOnce.map((each) => each.ms)));
  report(`p99 of ${N} at once ÷ p50 of one at a time, from a snapshot template`, (summarize(forkedAtOnce.map((each) => each.ms)).p99 / summarize(forkedCreates).p50).toFixed(2));
  report('pause (suspend, 256 MB)', formatTimes(pauses));
  report('pause (suspend, 1 GiB)', formatTimes(bigPauses));
  report('connect (resume) → command answered', formatTimes(connects));
  report('connect ÷ the API\'s resume (p50)', (summarize(connects).p50 / summarize(resumes).p50).toFixed(2));
  report('fork of a running sandbox into 10, every child answering', `${forkMs.toFixed(0)} ms`, `${forked} of 10 made`);
  printTable();
} finally {
  for (const app of ['e2b-personal', 'baseline']) {
    for (const machine of ((await api('GET', `/v1/apps/${app}/machines`).catch(() => ({ body: [] }))).body ?? []) as Array<{ id: string }>) {
      await api('DELETE', `/v1/apps/${app}/machines/${machine.id}?force=true`).catch(() => undefined);
    }
  }
  await cleanUpRealServer(server, data, netns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
