/**
 * Edge proxy benchmark, on a real microVM behind `hangar serve --driver qemu`.
 *
 * - Overhead: a closed loop at fixed concurrency (bench/lib.ts `closedLoop`, undici)
 *   against the machine's app directly (its private address) and through the proxy
 *   (`Host: <app>.<domain>`), at 1 connection (latency) and at a higher concurrency
 *   (throughput), alternating direct and proxied rounds so that both see the same
 *   noise. Not autocannon: it mis-times requests to a server that closes each
 *   connection, as busybox httpd does.
 * - Wake from suspended: the machine is suspended through the API, then one GET
 *   through the proxy is timed until its answer ends. Its baseline, alternated with
 *   it: the bare resume, `POST …/start` until the app answers directly.
 * - Wake from stopped: the same with a stopped machine, against `POST …/start`
 *   of a stopped machine (a cold start).
 *
 * Prints figures; asserts nothing. Needs root and scripts/setup-guest.sh.
 *   node bench/proxy.ts   (BENCH_RUNS wakes of each kind, default 5; BENCH_SECONDS per round, default 10;
 *                          BENCH_CONNECTIONS for throughput, default 16; BENCH_ROUNDS, default 3)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { viaProxy } from '../test/helpers/http.ts';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess } from '../test/helpers/server-process.ts';
import { answered, closedLoop, figureTable, formatTimes, machineFacts, summarize } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DOMAIN = 'bench.test';
/** A 1 KiB page, served by busybox httpd (one request per connection: it closes after each). */
const APP = 'mkdir -p /www; head -c 1024 /dev/zero | tr "\\0" x > /www/index.html; exec httpd -f -p 8080 -h /www';

const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-proxy-'));
const data = join(dir, 'data');
const netns = `hgr-bprx-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
const { report, printTable } = figureTable();
const p50 = (values: number[]) => summarize(values).p50;

const files = busyboxLayer(['sh', 'mkdir', 'head', 'tr', 'httpd']);
await pushImage(registry.host, 'bench/proxy', '1', [{ compression: 'gzip', files }], { config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] } });

console.log(`machine: ${machineFacts()}`);
const server = await startServerProcess(data, 'bench', ['--driver', 'qemu', '--netns', netns, '--autostop-after', '1h', '--proxy-domain', DOMAIN]);
const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
try {
  const app = 'bench';
  await api('POST', '/v1/apps', { name: app });
  const created = await api('POST', `/v1/apps/${app}/machines`, {
    config: {
      image: `${registry.host}/bench/proxy:1`, guest: { cpus: 1, memory_mb: 256 }, restart: { policy: 'no' },
      services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostart: true, concurrency: { type: 'requests', soft_limit: 1000 } }],
    },
  });
  const id = created.body.id as string;
  const direct = `http://[${created.body.private_ip}]:8080/`;
  const machinePath = `/v1/apps/${app}/machines/${id}`;
  await api('GET', `${machinePath}/wait?state=started&timeout=120`);
  await answered(direct);

  // Overhead.
  type Round = Awaited<ReturnType<typeof closedLoop>>;
  const rounds = { direct1: [] as Round[], proxy1: [] as Round[], directN: [] as Round[], proxyN: [] as Round[] };
  const proxied = { host: `${app}.${DOMAIN}` };
  for (let round = 0; round < ROUNDS; round++) {
    rounds.direct1.push(await closedLoop(direct, {}, 1, SECONDS));
    rounds.proxy1.push(await closedLoop(`${server.proxyUrl}/`, proxied, 1, SECONDS));
    rounds.directN.push(await closedLoop(direct, {}, CONNECTIONS, SECONDS));
    rounds.proxyN.push(await closedLoop(`${server.proxyUrl}/`, proxied, CONNECTIONS, SECONDS));
  }
  /** Percentiles over every request of every round; throughput as the median round's. */
  const lat = (results: Round[], p: 'p50' | 'p99') => summarize(results.flatMap((r) => r.latencies))[p];
  const both = (results: Round[]) => `${lat(results, 'p50').toFixed(2)} / ${lat(results, 'p99').toFixed(2)} ms`;
  const rps = (results: Round[]) => p50(results.map((r) => r.rate));
  const errors = (results: Round[]) => results.reduce((sum, r) => sum + r.errors, 0);
  report('latency at 1 connection, direct (p50 / p99)', both(rounds.direct1), `${ROUNDS} rounds of ${SECONDS} s`);
  report('latency at 1 connection, proxy (p50 / p99)', both(rounds.proxy1));
  report('added by the proxy at p50, 1 connection', `${(lat(rounds.proxy1, 'p50') - lat(rounds.direct1, 'p50')).toFixed(2)} ms`, 'target < 1 ms');
  report(`latency at ${CONNECTIONS} connections, direct (p50 / p99)`, both(rounds.directN));
  report(`latency at ${CONNECTIONS} connections, proxy (p50 / p99)`, both(rounds.proxyN));
  report('throughput at 1 connection, direct / proxy', `${rps(rounds.direct1).toFixed(0)} / ${rps(rounds.proxy1).toFixed(0)} req/s`);
  report(`throughput at ${CONNECTIONS} connections, direct`, `${rps(rounds.directN).toFixed(0)} req/s`);
  report(`throughput at ${CONNECTIONS} connections, proxy`, `${rps(rounds.proxyN).toFixed(0)} req/s`);
  report('throughput proxy / direct', `${((100 * rps(rounds.proxyN)) / rps(rounds.directN)).toFixed(0)} %`, 'target ≥ 80 %');
  report('errors and non-200 answers (all rounds)', `direct ${errors([...rounds.direct1, ...rounds.directN])}, proxy ${errors([...rounds.proxy1, ...rounds.proxyN])}`);

  // Wakes, each alternated with its baseline.
  const times = { proxyResume: [] as number[], apiResume: [] as number[], proxyCold: [] as number[], apiCold: [] as number[] };
  for (let run = 0; run < RUNS; run++) {
    await putTo('suspend', 'suspended');
    times.proxyResume.push(await throughProxy());
    await putTo('suspend', 'suspended');
    times.apiResume.push(await throughApi());
    await putTo('stop', 'stopped');
    times.proxyCold.push(await throughProxy());
    await putTo('stop', 'stopped');
    times.apiCold.push(await throughApi());
  }
  report('wake from suspended, proxy (GET → answer)', formatTimes(times.proxyResume));
  report('bare resume (POST start → app answers directly)', formatTimes(times.apiResume));
  report('wake from suspended / bare resume (p50)', `${(p50(times.proxyResume) / p50(times.apiResume)).toFixed(2)}×`, 'target ≤ 1.2×');
  report('wake from stopped, proxy (GET → answer)', formatTimes(times.proxyCold));
  report('cold start (POST start → app answers directly)', formatTimes(times.apiCold));
  report('wake from stopped / cold start (p50)', `${(p50(times.proxyCold) / p50(times.apiCold)).toFixed(2)}×`);
  printTable();

  async function putTo(action: 'suspend' | 'stop', state: string): Promise<void> {
    const reply = await api('POST', `${machinePath}/${action}`);
    if (reply.status !== 200) throw new Error(`${action}: ${reply.status} ${JSON.stringify(reply.body)}`);
    await api('GET', `${machinePath}/wait?state=${state}&timeout=120`);
    await sleep(500);
  }

  async function throughProxy(): Promise<number> {
    const began = performance.now();
    const answer = await viaProxy(server.proxyUrl, `${app}.${DOMAIN}`);
    if (answer.status !== 200) throw new Error(`wake through the proxy answered ${answer.status}: ${answer.body}`);
    return performance.now() - began;
  }

  async function throughApi(): Promise<number> {
    const began = performance.now();
    const reply = await api('POST', `${machinePath}/start`);
    if (reply.status !== 200) throw new Error(`start: ${reply.status} ${JSON.stringify(reply.body)}`);
    return (await answered(direct, 10)) - began;
  }
} finally {
  await cleanUpRealServer(server, data, netns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}

