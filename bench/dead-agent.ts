/**
 * What a machine costs its host while hangar is down: BENCH_COUNT (default 16) idle
 * 256 MB busybox-httpd machines on `hangar serve --driver qemu`; hangar is killed
 * (SIGKILL), and each QEMU's CPU use is read from /proc over BENCH_SECONDS (default
 * 10). The same is read with hangar running, before the kill and after a new hangar
 * has reattached, to compare. The new hangar must reach every machine (an exec in
 * each) before they are destroyed.
 *
 * Prints figures; asserts nothing. Needs root.   node bench/dead-agent.ts
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { cpuPercentOver } from '../test/helpers/process-cpu.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../test/helpers/server-process.ts';
import { figureTable, machineFacts } from './lib.ts';

const COUNT = Number(process.env.BENCH_COUNT ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';
const { report, printTable } = figureTable();

const percent = (value: number) => `${value.toFixed(1)} %`;
/** Figures in % of a CPU, one per machine: their total, mean, least and most. */
const summary = (figures: number[]) => {
  const total = figures.reduce((a, b) => a + b, 0);
  return `total ${percent(total)}, per machine ${percent(total / figures.length)} (min ${percent(Math.min(...figures))}, max ${percent(Math.max(...figures))})`;
};

console.log(`machine: ${machineFacts()}`);
const dir = mkdtempSync(join(tmpdir(), 'hangar-dead-agent-'));
const data = join(dir, 'data');
const netns = `hgr-da-${Math.random().toString(16).slice(2, 6)}`;
const args = ['--driver', 'qemu', '--netns', netns];
const registry = await startRegistry();
let server: ServerProcess | undefined;
try {
  await pushImage(registry.host, 'idle/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd']) }], {
    config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
  });
  const image = `${registry.host}/idle/app:1`;
  server = await startServerProcess(data, 'bench', args);
  const api = (method: string, path: string, body?: unknown) => request(server!, method, path, body);
  const machines = '/v1/apps/idle/machines';
  await api('POST', '/v1/apps', { name: 'idle' });
  const ids: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const created = await api('POST', machines, { config: { image, restart: { policy: 'no' }, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } } });
    if (created.status !== 200) throw new Error(`create: ${JSON.stringify(created.body)}`);
    const waited = await api('GET', `${machines}/${created.body.id}/wait?state=started&timeout=60`);
    if (waited.status !== 200) throw new Error(`wait started: ${JSON.stringify(waited.body)}`);
    ids.push(created.body.id);
  }
  const pids = ids.map((id) => Number(readFileSync(join(data, 'machines', id, 'qemu.pid'), 'utf8')));
  // What the boots left to do (the app starting, the kernel's deferred work) settles first.
  await sleep(5000);
  report(`${COUNT} idle machine(s), hangar running`, summary(await cpuPercentOver(pids, SECONDS * 1000)));

  await server.kill();
  await sleep(2000);
  const down = await cpuPercentOver(pids, SECONDS * 1000);
  down.forEach((figure, i) => console.log(`  ${ids[i]} (QEMU ${pids[i]}): ${percent(figure)}`));
  report(`${COUNT} idle machine(s), hangar killed`, summary(down));

  // Machines that spin while hangar is down can starve the host: the new hangar gets time to come up.
  const restarting = performance.now();
  server = await startServerProcess(data, 'bench', args, {}, { startTimeoutMs: 300_000 });
  report('a new hangar up (its addresses printed) after the kill', `${((performance.now() - restarting) / 1000).toFixed(1)} s`);
  const reattached = await Promise.all(ids.map(async (id, i) => {
    const state = (await api('GET', `${machines}/${id}`)).body.state;
    const exec = await api('POST', `${machines}/${id}/exec`, { command: ['echo', 'here'] });
    const samePid = Number(readFileSync(join(data, 'machines', id, 'qemu.pid'), 'utf8')) === pids[i];
    return state === 'started' && samePid && exec.status === 200 && exec.body.stdout === 'here\n';
  }));
  report(`${COUNT} idle machine(s), a new hangar reattached`, summary(await cpuPercentOver(pids, SECONDS * 1000)), `${reattached.filter(Boolean).length} of ${COUNT} reattached and answered an exec`);

  for (const id of ids) {
    await api('DELETE', `${machines}/${id}?force=true`);
    await api('GET', `${machines}/${id}/wait?state=destroyed&timeout=60`);
  }
} finally {
  await cleanUpRealServer(server, data, netns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
printTable();
