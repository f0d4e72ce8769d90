/**
 * Moving suspended machines between hosts, on the test rig (two hosts in network
 * namespaces of their own joined only by a bridge; WireGuard underlay,
 * wireguard-go here; qemu driver, TCG), with PostgreSQL:
 *
 *   node bench/cluster-move.ts      (root; BENCH_MOVES per size, default 3; BENCH_CRASHES, default 100;
 *                                    BENCH_KERNEL_ARGS: the machines' guest.kernel_args, space-separated;
 *                                    BENCH_RUN_S: how long each machine runs, once started, before its suspend, default 0)
 *
 * - a move of a suspended 256 MB and 1 GB machine from host 1 to host 2: the move
 *   (its snapshot carried and taken in, committed), then its start there to the
 *   first answer through host 2's proxy; right after its suspend (the move waits
 *   for its RAM to be written out to disk) and at rest (BENCH_REST_S after it,
 *   default 10); against a cold boot of the same machine on host 2 (create to
 *   first answer), alternating;
 * - crash-injected moves: each move's replica (or, one in four, the source host)
 *   killed at one of the four migrate failpoints in turn; after each, the machine
 *   is started and the hosts are asked what runs: a machine whose VM runs on two
 *   hosts, or on another host than its record names, is counted.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type ClusterProcess, destroyMachinesOf, type HostSpec, type TestCluster } from '../test/helpers/cluster.ts';
import { viaProxy } from '../test/helpers/http.ts';
import { figureTable, formatTimes, machineFacts, summarize } from './lib.ts';
import { onTwoHosts } from './two-hosts.ts';

const MOVES = Number(process.env.BENCH_MOVES ?? 3);
const REST_MS = Number(process.env.BENCH_REST_S ?? 10) * 1000;
const RUN_MS = Number(process.env.BENCH_RUN_S ?? 0) * 1000;
const CRASHES = Number(process.env.BENCH_CRASHES ?? 100);
const FAILPOINTS = ['migrate.after-reserve', 'migrate.after-copy', 'migrate.after-commit', 'migrate.before-cleanup'] as const;

/**
 * Until the app answers 200 through `proxy`; ms from `began`. A refusal is asked
 * again 20 ms later: asked at once, the asking took a core from the two that the
 * machine's start runs on.
 */
async function firstAnswer(proxy: string, app: string, began: number): Promise<number> {
  const refusals: Record<number, number> = {};
  for (;;) {
    const reply = await viaProxy(proxy, `${app}.localhost`, '/', 120_000).catch(() => ({ status: 0 }));
    if (reply.status === 200) {
      if (Object.keys(refusals).length > 0) console.log(`  ${app}: refused before its first answer ${JSON.stringify(refusals)} (status: times)`);
      return performance.now() - began;
    }
    refusals[reply.status] = (refusals[reply.status] ?? 0) + 1;
    if (performance.now() - began > 120_000) throw new Error(`${app} did not answer`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The hosts (by data directory) where a QEMU of the machine runs. */
function runningOn(c: TestCluster, machineId: string): string[] {
  let argvs = '';
  try { argvs = execFileSync('pgrep', ['-af', `qemu-system.*${machineId}`], { encoding: 'utf8' }); } catch { /* none */ }
  return [...c.hosts.entries()].filter(([, host]) => argvs.includes(join(host.dataDir, 'machines', machineId))).map(([id]) => id);
}

async function main(): Promise<void> {
  console.log(machineFacts());
  const { report, printTable } = figureTable();
  // At info, the replica says how long each step of a move took.
  await onTwoHosts('move', { commonArgs: ['--log-level', 'info'] }, async ({ c, specs, image }) => {
    const config = (memoryMb: number) => ({
      image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: memoryMb, ...(process.env.BENCH_KERNEL_ARGS ? { kernel_args: process.env.BENCH_KERNEL_ARGS.split(' ') } : {}) },
      services: [{ protocol: 'tcp', internal_port: 8080, autostart: false, autostop: 'off', ports: [{ port: 80, handlers: ['http'] }] }],
    });
    const call = async (method: string, path: string, body?: unknown) => {
      const reply = await c.call(0, method, path, body);
      if (reply.status !== 200 && reply.status !== 201) throw new Error(`${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
      return reply.body;
    };
    const suspendedOn = async (app: string, region: string, memoryMb: number): Promise<string> => {
      const { id } = await call('POST', `/v1/apps/${app}/machines`, { region, config: config(memoryMb) });
      await call('GET', `/v1/apps/${app}/machines/${id}/wait?state=started&timeout=60`);
      if (RUN_MS > 0) await new Promise((resolve) => setTimeout(resolve, RUN_MS));
      await call('POST', `/v1/apps/${app}/machines/${id}/suspend`, {});
      await call('GET', `/v1/apps/${app}/machines/${id}/wait?state=suspended&timeout=60`);
      return id as string;
    };
    const proxy2 = c.hosts.get('h2')?.proxyUrl();
    if (!proxy2) throw new Error('host 2 did not say where its proxy listens');

    for (const memoryMb of [256, 1024]) {
      const moves: Record<'fresh' | 'rested', number[]> = { fresh: [], rested: [] };
      const answers: Record<'fresh' | 'rested', number[]> = { fresh: [], rested: [] };
      const colds: number[] = [];
      for (let i = 0; i < MOVES; i++) {
        for (const kind of ['fresh', 'rested'] as const) {
          const app = `mv${memoryMb}-${kind}-${i}`;
          await call('POST', '/v1/apps', { name: app, org_slug: 'personal' });
          const id = await suspendedOn(app, 'fra', memoryMb);
          if (kind === 'rested') await new Promise((resolve) => setTimeout(resolve, REST_MS));
          const began = performance.now();
          await call('POST', `/hangar/v1/apps/${app}/machines/${id}/move`, { region: 'syd' });
          moves[kind].push(performance.now() - began);
          const said = c.replicas[0]?.output().split('\n').reverse().find((line) => line.includes(`machine ${id} moved from host`));
          const steps = said ? JSON.parse(said) as { ms?: unknown; dataBlocks?: number; bytes?: number } : {};
          console.log(`  ${memoryMb} MB move ${i + 1} (${kind}): ${JSON.stringify(steps.ms)} ms; ${steps.dataBlocks} MiB of data in ${Math.round((steps.bytes ?? 0) / 2 ** 20)} MiB of files`);
          await call('POST', `/v1/apps/${app}/machines/${id}/start`, {});
          answers[kind].push(await firstAnswer(proxy2, app, began));
          await destroyMachinesOf(c, [app]);
        }
        const coldApp = `cold${memoryMb}-${i}`;
        await call('POST', '/v1/apps', { name: coldApp, org_slug: 'personal' });
        const coldBegan = performance.now();
        await call('POST', `/v1/apps/${coldApp}/machines`, { region: 'syd', config: config(memoryMb) });
        colds.push(await firstAnswer(proxy2, coldApp, coldBegan));
        await destroyMachinesOf(c, [coldApp]);
      }
      const aim = `aim ≤ ${memoryMb === 256 ? 3 : 8} s`;
      for (const kind of ['fresh', 'rested'] as const) {
        const when = kind === 'fresh' ? 'right after its suspend' : `at rest (${REST_MS / 1000} s after its suspend)`;
        report(`${memoryMb} MB suspended machine ${when}: the move`, formatTimes(moves[kind]));
        report(`${memoryMb} MB suspended machine ${when}: moved and answering on host 2`, formatTimes(answers[kind]),
          `${aim}; ÷ cold boot: ${(summarize(answers[kind]).p50 / summarize(colds).p50).toFixed(2)}`);
      }
      report(`${memoryMb} MB machine: cold boot on host 2 to its first answer (baseline)`, formatTimes(colds));
    }

    let twice = 0;
    let misplaced = 0;
    let done = 0;
    await call('POST', '/v1/apps', { name: 'crash', org_slug: 'personal' });
    const id = await suspendedOn('crash', 'fra', 256);
    for (let i = 0; i < CRASHES; i++) {
      const failpoint = FAILPOINTS[i % FAILPOINTS.length] as (typeof FAILPOINTS)[number];
      const from = (await call('GET', `/v1/apps/crash/machines/${id}`)).host_id as string;
      const to = from === 'h1' ? 'h2' : 'h1';
      if (failpoint === 'migrate.before-cleanup') {
        const source = c.hosts.get(from) as ClusterProcess;
        await source.stop();
        const doomed = await c.startHost(specs.find((spec) => spec.id === from) as HostSpec, source.dataDir, { HANGAR_FAILPOINTS: `${failpoint}=crash` });
        await call('POST', `/hangar/v1/apps/crash/machines/${id}/move`, { region: to === 'h1' ? 'fra' : 'syd' });
        while (doomed.child.exitCode === null && doomed.child.signalCode === null) await new Promise((resolve) => setTimeout(resolve, 50));
        await c.startHost(specs.find((spec) => spec.id === from) as HostSpec, source.dataDir);
      } else {
        const doomed = await c.startReplica({ HANGAR_FAILPOINTS: `${failpoint}=crash` });
        const index = c.replicas.indexOf(doomed);
        await c.call(index, 'POST', `/hangar/v1/apps/crash/machines/${id}/move`, { region: to === 'h1' ? 'fra' : 'syd' }).catch(() => undefined);
        c.replicas.splice(index, 1);
        await doomed.kill();
      }
      const placed = (await call('GET', `/v1/apps/crash/machines/${id}`)).host_id as string;
      await call('POST', `/v1/apps/crash/machines/${id}/start`, {});
      await call('GET', `/v1/apps/crash/machines/${id}/wait?state=started&timeout=60`);
      const running = runningOn(c, id);
      if (running.length > 1) twice++;
      if (running.length === 1 && running[0] !== placed) misplaced++;
      await call('POST', `/v1/apps/crash/machines/${id}/suspend`, {});
      await call('GET', `/v1/apps/crash/machines/${id}/wait?state=suspended&timeout=60`);
      done++;
      if (done % 10 === 0) console.log(`${done} crash-injected moves: ${twice} on two hosts, ${misplaced} elsewhere than recorded`);
    }
    report('crash-injected moves (replica, or source host, killed at each migrate failpoint in turn)', `${twice} on two hosts, ${misplaced} elsewhere than recorded`, `n=${done}; aim 0`);
    printTable();
    await destroyMachinesOf(c, ['crash']);
  });
}

await main();
