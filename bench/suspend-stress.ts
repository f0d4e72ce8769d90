/**
 * Suspend → start cycles on many machines at once (default 5 machines × 20 cycles,
 * in parallel), through `hangar serve --driver qemu`. Counts the starts that were
 * not clean resumes (a cold boot, or the guest's memory lost) and prints each with
 * its reason, and the suspend and resume times under this load.
 *
 *   node bench/suspend-stress.ts   (root; BENCH_MACHINES, BENCH_CYCLES, BENCH_MEMORY_MB)
 *
 * Exits 1 if any start was not a clean resume.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { removeNamespace } from '../test/helpers/network.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { request, startServerProcess } from '../test/helpers/server-process.ts';
import { failedCycles, suspendResumeCycles } from '../test/helpers/suspend-cycles.ts';
import { figureTable, formatTimes, machineFacts } from './lib.ts';

const MACHINES = Number(process.env.BENCH_MACHINES ?? 5);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 20);
const MEMORY_MB = Number(process.env.BENCH_MEMORY_MB ?? 256);
const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';

const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-stress-'));
const netns = `hgr-bstr-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
let failures = 0;
try {
  console.log(`machine: ${machineFacts()}`);
  await pushImage(registry.host, 'bench/stress', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'cat', 'echo', 'mkdir', 'httpd']) }], {
    config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
  });
  const server = await startServerProcess(join(dir, 'data'), 'bench', ['--driver', 'qemu', '--netns', netns]);
  await request(server, 'POST', '/v1/apps', { name: 'bench' });
  const ids: string[] = [];
  for (let i = 0; i < MACHINES; i++) {
    const reply = await request(server, 'POST', '/v1/apps/bench/machines', {
      config: { image: `${registry.host}/bench/stress:1`, guest: { cpus: 1, memory_mb: MEMORY_MB }, restart: { policy: 'no' } },
    });
    if (reply.status !== 200) throw new Error(`create: ${reply.status} ${JSON.stringify(reply.body)}`);
    ids.push(reply.body.id);
  }
  for (const id of ids) await request(server, 'GET', `/v1/apps/bench/machines/${id}/wait?state=started&timeout=60`);
  const started = Date.now();
  const outcomes = await suspendResumeCycles(server, 'bench', ids, CYCLES);
  const seconds = (Date.now() - started) / 1000;
  const failed = failedCycles(outcomes);
  failures = failed.length;
  for (const line of failed) console.log(`not a clean resume: ${line}`);
  const { report, printTable } = figureTable();
  report('cycles', `${outcomes.length} (${MACHINES} machines × ${CYCLES}, in parallel, ${seconds.toFixed(0)} s)`);
  report('clean resumes (resumed: true, memory kept)', `${outcomes.length - failures} of ${outcomes.length}`, 'target: all');
  report('suspend under load (POST → suspended)', formatTimes(outcomes.filter((o) => !o.error).map((o) => o.suspendMs)));
  report('resume under load (POST start → started)', formatTimes(outcomes.filter((o) => !o.error).map((o) => o.resumeMs)));
  printTable();
  for (const id of ids) await request(server, 'DELETE', `/v1/apps/bench/machines/${id}?force=true`);
  await server.stop();
} finally {
  try { execFileSync('pkill', ['-KILL', '-f', dir], { stdio: 'ignore' }); } catch { /* none */ }
  await removeNamespace(netns);
  await registry.stop();
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failures > 0 ? 1 : 0;
