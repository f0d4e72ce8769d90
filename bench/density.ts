/**
 * Density benchmark: how many busybox-httpd machines (256 MB guests) one
 * host runs at once through `hangar serve --driver qemu`. Machines are started in
 * concurrent waves; after each wave every machine must answer HTTP on its private
 * address. Stops when the host is full: MemAvailable under BENCH_MIN_FREE_MB
 * (default 2048), a wave that takes longer than BENCH_WAVE_LIMIT_S (default 120 s),
 * a machine that fails, or BENCH_MAX_MACHINES (default 48). Prints per wave: machines
 * running, the wave's create → answering time, host memory available and the host
 * memory each running machine costs (drop in MemAvailable / machines). Needs root.
 *
 *   node bench/density.ts        (BENCH_WAVE, default 8 machines per wave)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeNamespace } from '../test/helpers/network.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { request, startServerProcess } from '../test/helpers/server-process.ts';
import { machineFacts, memAvailable } from './lib.ts';
import { busyboxLayer } from '../test/helpers/image-build.ts';

const WAVE = Number(process.env.BENCH_WAVE ?? 8);
const MAX = Number(process.env.BENCH_MAX_MACHINES ?? 48);
const MIN_FREE_MB = Number(process.env.BENCH_MIN_FREE_MB ?? 2048);
const WAVE_LIMIT_MS = Number(process.env.BENCH_WAVE_LIMIT_S ?? 120) * 1000;

const memAvailableMb = () => memAvailable() / (1 << 20);

async function answers(ip: string, deadline: number): Promise<boolean> {
  while (performance.now() < deadline) {
    const ok = await fetch(`http://[${ip}]:8080/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return true;
    await sleep(100);
  }
  return false;
}

const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-density-'));
const netns = `hgr-dens-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
try {
  console.log(`machine: ${machineFacts()}`);
  const files = busyboxLayer(['httpd'], { '/www/index.html': { mode: 0o644, content: Buffer.from('ok\n') } });
  await pushImage(registry.host, 'bench/web', '1', [{ compression: 'gzip', files }], { config: { Cmd: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'], Env: ['PATH=/bin'] } });
  const image = `${registry.host}/bench/web:1`;
  const server = await startServerProcess(join(dir, 'data'), 'bench', ['--driver', 'qemu', '--netns', netns]);
  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  await api('POST', '/v1/apps', { name: 'dense' });
  await api('POST', '/v1/apps/dense/machines', { skip_launch: true, config: { image } });

  const before = memAvailableMb();
  let running = 0;
  let stopped = '';
  console.log('\n| running | wave create → all answering | MemAvailable | host memory per machine | load avg (1 min) |\n|---|---|---|---|---|');
  while (!stopped) {
    const t0 = performance.now();
    const wave = await Promise.all(Array.from({ length: WAVE }, () => api('POST', '/v1/apps/dense/machines', {
      config: { image, guest: { cpus: 1, memory_mb: 256 }, restart: { policy: 'no' } },
    })));
    const ok = await Promise.all(wave.map((reply) => reply.status === 200 && answers(reply.body.private_ip, t0 + WAVE_LIMIT_MS)));
    const took = performance.now() - t0;
    running += ok.filter(Boolean).length;
    await sleep(2000);
    const available = memAvailableMb();
    console.log(`| ${running} | ${(took / 1000).toFixed(1)} s | ${(available / 1024).toFixed(1)} GiB | ${((before - available) / running).toFixed(0)} MB | ${loadavg()[0]?.toFixed(1)} |`);
    if (ok.some((answered) => !answered)) stopped = `a machine did not answer within ${WAVE_LIMIT_MS / 1000} s`;
    else if (available < MIN_FREE_MB) stopped = `MemAvailable under ${MIN_FREE_MB} MB`;
    else if (running + WAVE > MAX) stopped = `reached BENCH_MAX_MACHINES=${MAX}`;
  }
  console.log(`\nstopped at ${running} running machines: ${stopped}`);
  await server.kill();
} finally {
  try { execFileSync('pkill', ['-KILL', '-f', join(dir, 'data', 'machines')], { stdio: 'ignore' }); } catch { /* none */ }
  await sleep(1000);
  await removeNamespace(netns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
