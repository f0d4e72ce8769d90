/**
 * API benchmark: create throughput, GET latency under a fixed load, listing
 * 10,000 machines, and releasing 1,000 waiters. hangar runs as `hangar serve` (fake
 * driver) in its own process; the baseline is a bare node:http server answering the
 * same machine JSON, run in the same session. Prints figures; asserts nothing.
 *
 *   npm run bench:api            (BENCH_MACHINES, BENCH_RATE, BENCH_SECONDS to change sizes)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { request as call, startServerProcess, ROOT } from '../test/helpers/server-process.ts';
import { machineFacts, ms, openLoop, summarize } from './lib.ts';

const MACHINES = Number(process.env.BENCH_MACHINES ?? 10_000);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WAITERS = 1000;
const CREATE_CONCURRENCY = 16;

const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-'));
const token = 'bench-token';
const server = await startServerProcess(join(dir, 'data'), token, ['--driver', 'fake', '--fake-timing', 'instant', '--max-machines-per-app', String(MACHINES)]);
const auth = { authorization: `Bearer ${token}` };
const rows: string[][] = [];
const report = (what: string, value: string, note = '') => {
  rows.push([what, value, note]);
  console.log(`${what}: ${value} ${note}`);
};

try {
  console.log(`machine: ${machineFacts()}`);
  await call(server, 'POST', '/v1/apps', { name: 'bench' });

  // Create throughput: MACHINES creates with skip_launch, CREATE_CONCURRENCY at a time.
  const agent = new Agent({ connections: 64 });
  let next = 0;
  const createLatencies: number[] = [];
  const createStart = performance.now();
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, async () => {
    while (next < MACHINES) {
      const i = next++;
      const t0 = performance.now();
      const response = await request(`${server.url}/v1/apps/bench/machines`, {
        method: 'POST', dispatcher: agent, headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ skip_launch: true, name: `m-${i}`, config: { image: 'registry.test/app:1', metadata: { n: String(i % 10) } } }),
      });
      await response.body.arrayBuffer();
      if (response.statusCode !== 200) throw new Error(`create answered ${response.statusCode}`);
      createLatencies.push(performance.now() - t0);
    }
  }));
  const createSeconds = (performance.now() - createStart) / 1000;
  const created = summarize(createLatencies);
  report('create (skip_launch) throughput', `${(MACHINES / createSeconds).toFixed(0)} machines/s`, `(${MACHINES} creates, concurrency ${CREATE_CONCURRENCY}, p50 ${ms(created.p50)}, p99 ${ms(created.p99)})`);

  // GET latency at a fixed rate, against hangar and against the bare baseline.
  const list = await call(server, 'GET', '/v1/apps/bench/machines?summary=true');
  const id = list.body[0].id as string;
  const machineUrl = `${server.url}/v1/apps/bench/machines/${id}`;
  const sample = await request(machineUrl, { headers: auth });
  const bodyFile = join(dir, 'machine.json');
  writeFileSync(bodyFile, Buffer.from(await sample.body.arrayBuffer()));
  const baseline = spawn(process.execPath, [join(ROOT, 'bench/baseline-server.ts'), bodyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const baselinePort = await new Promise<number>((resolve) => baseline.stdout.on('data', (d) => resolve(Number(/listening (\d+)/.exec(String(d))?.[1]))));
  try {
    const base = await openLoop(`http://127.0.0.1:${baselinePort}/`, {}, RATE, SECONDS);
    const hangar = await openLoop(machineUrl, auth, RATE, SECONDS);
    const b = summarize(base.latencies);
    const h = summarize(hangar.latencies);
    report(`GET machine at ${RATE} req/s, p50`, ms(h.p50), `(baseline ${ms(b.p50)}, ratio ${(h.p50 / b.p50).toFixed(2)}×)`);
    report(`GET machine at ${RATE} req/s, p99`, ms(h.p99), `(baseline ${ms(b.p99)}, ratio ${(h.p99 / b.p99).toFixed(2)}×; achieved ${hangar.achievedRate.toFixed(0)} req/s, ${hangar.errors} errors)`);
    report('load generator send lag p99', ms(summarize(hangar.lags).p99), `(baseline run ${ms(summarize(base.lags).p99)}; lag is the generator's, not counted above)`);
  } finally {
    baseline.kill();
  }

  // Listing MACHINES machines of one app.
  for (const [label, query] of [['full', ''], ['summary', '?summary=true']] as const) {
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      const response = await request(`${server.url}/v1/apps/bench/machines${query}`, { headers: auth });
      const bytes = Buffer.from(await response.body.arrayBuffer());
      times.push(performance.now() - t0);
      if (i === 0) count = (JSON.parse(bytes.toString('utf8')) as unknown[]).length;
    }
    const s = summarize(times.slice(3));
    report(`list ${count} machines (${label})`, ms(s.p50), `(p50 of 12 after 3 warm-ups; max ${ms(s.max)})`);
  }

  // Releasing WAITERS waiters on one state change.
  const waiterAgent = new Agent({ connections: WAITERS + 10 });
  const waiterId = list.body[1].id as string;
  const base = `${server.url}/v1/apps/bench/machines/${waiterId}`;
  let released = 0;
  const waiters = Array.from({ length: WAITERS }, async () => {
    const response = await request(`${base}/wait?state=started&timeout=60`, { headers: auth, dispatcher: waiterAgent });
    await response.body.arrayBuffer();
    if (response.statusCode === 200) released++;
    return performance.now();
  });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const t0 = performance.now();
  await request(`${base}/start`, { method: 'POST', headers: auth });
  const ends = await Promise.all(waiters);
  const last = Math.max(...ends) - t0;
  report(`release ${WAITERS} waiters on one state change`, ms(last), `(${released} answered 200; from POST start to the last response; fake driver with instant timing)`);
  await waiterAgent.close();
  await agent.close();

  console.log('\n| measure | hangar | notes |\n|---|---|---|');
  for (const [what, value, note] of rows) console.log(`| ${what} | ${value} | ${note} |`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
