/**
 * Cluster benchmark: a durable PostgreSQL (fsync on), 8 host agents
 * (fake driver, instant) in two regions and 2 API replicas, against a single
 * `hangar serve` on SQLite run in the same session. Prints figures; asserts nothing.
 *
 *   node bench/cluster.ts        (BENCH_CREATES, BENCH_RATE, BENCH_SECONDS to change sizes)
 *
 * 1. creates: BENCH_CREATES (1,000) `skip_launch` creates through both replicas, 16
 *    at a time each, and how they spread over the hosts;
 * 2. GET p50/p99 of one machine at BENCH_RATE (1,000) req/s on one replica, and on
 *    the single SQLite hangar;
 * 3. wait release: a start through replica A, waited for on replica B, against the
 *    same with the waiter on A (the difference is what crossing replicas costs);
 * 4. lease race: 100 lease requests at once through both replicas.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLUSTER_TOKEN, startCluster } from '../test/helpers/cluster.ts';
import { request, startServerProcess } from '../test/helpers/server-process.ts';
import { figureTable, machineFacts, ms, openLoop, summarize } from './lib.ts';

const CREATES = Number(process.env.BENCH_CREATES ?? 1000);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WAITS = 50;
const { report, printTable } = figureTable();
const config = { image: 'registry.test/app:1', guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };

console.log(`machine: ${machineFacts()}`);
const hosts = Array.from({ length: 8 }, (_, i) => ({ id: `h${i + 1}`, region: i % 2 ? 'syd' : 'fra' }));
const cluster = await startCluster({ hosts, replicas: 2, fakeTiming: 'instant', durable: true });
const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-single-'));
const single = await startServerProcess(join(dir, 'data'), 'bench-token', ['--driver', 'fake', '--fake-timing', 'instant', '--max-machines-per-app', String(CREATES + 100)]);
const call = cluster.call;
try {
  await call(0, 'POST', '/v1/apps', { name: 'bench', org_slug: 'personal' });
  // Waits and leases in an app of their own: 'bench' is at its limit of machines after the creates.
  await call(0, 'POST', '/v1/apps', { name: 'waits', org_slug: 'personal' });
  await request(single, 'POST', '/v1/apps', { name: 'bench' });

  // 1. Creates through both replicas.
  let next = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(Array.from({ length: 32 }, async (_, worker) => {
    while (next < CREATES) {
      const i = next++;
      const t0 = performance.now();
      const reply = await call(worker % 2, 'POST', '/v1/apps/bench/machines', { skip_launch: true, region: i % 2 ? 'syd' : 'fra', config });
      if (reply.status !== 200) throw new Error(`create answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  const created = summarize(latencies);
  const spread = ((await call(0, 'GET', '/hangar/v1/hosts')).body as Array<{ id: string; machines: number }>).map((h) => `${h.id} ${h.machines}`).join(', ');
  report('creates (skip_launch) through 2 replicas onto 8 hosts', `${(CREATES / seconds).toFixed(0)} machines/s`, `(${CREATES} creates, 16 at a time per replica, p50 ${ms(created.p50)}, p99 ${ms(created.p99)}; ${spread})`);

  // 2. GET latency on one replica, and on the single SQLite hangar.
  const one = (await call(0, 'GET', '/v1/apps/bench/machines?summary=true')).body[0].id as string;
  const onSingle = (await request(single, 'POST', '/v1/apps/bench/machines', { skip_launch: true, config })).body.id as string;
  const sqliteRun = summarize((await openLoop(`${single.url}/v1/apps/bench/machines/${onSingle}`, { authorization: 'Bearer bench-token' }, RATE, SECONDS)).latencies);
  const pgRun = await openLoop(`${cluster.replicas[0]?.url}/v1/apps/bench/machines/${one}`, { authorization: `Bearer ${CLUSTER_TOKEN}` }, RATE, SECONDS);
  const pgFigures = summarize(pgRun.latencies);
  report(`GET machine at ${RATE} req/s on one replica, p50`, ms(pgFigures.p50), `(single hangar on SQLite ${ms(sqliteRun.p50)}, ratio ${(pgFigures.p50 / sqliteRun.p50).toFixed(2)}×)`);
  report(`GET machine at ${RATE} req/s on one replica, p99`, ms(pgFigures.p99), `(single hangar on SQLite ${ms(sqliteRun.p99)}, ratio ${(pgFigures.p99 / sqliteRun.p99).toFixed(2)}×; ${pgRun.errors} errors)`);

  // 3. Wait release: a start through replica 0, waited for on replica 1 (across) or on 0 (same).
  const startAndWait = async (waiter: number): Promise<number> => {
    const m = (await call(0, 'POST', '/v1/apps/waits/machines', { skip_launch: true, region: 'fra', config })).body.id as string;
    const waiting = call(waiter, 'GET', `/v1/apps/waits/machines/${m}/wait?state=started&timeout=30`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const t0 = performance.now();
    await call(0, 'POST', `/v1/apps/waits/machines/${m}/start`);
    const reply = await waiting;
    if (reply.status !== 200) throw new Error(`wait answered ${reply.status}`);
    return performance.now() - t0;
  };
  const across: number[] = [];
  const same: number[] = [];
  for (let i = 0; i < WAITS; i++) {
    across.push(await startAndWait(1));
    same.push(await startAndWait(0));
  }
  const a = summarize(across);
  const s = summarize(same);
  report('start on replica A → waiter on replica B answered, p50 / p99', `${ms(a.p50)} / ${ms(a.p99)}`, `(waiter on A itself: ${ms(s.p50)} / ${ms(s.p99)}; crossing costs ${ms(a.p50 - s.p50)} at p50; ${WAITS} each, the start boots on a host agent)`);

  // 4. Lease race.
  const m = (await call(0, 'POST', '/v1/apps/waits/machines', { skip_launch: true, region: 'fra', config })).body.id as string;
  const t0 = performance.now();
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => call(i % 2, 'POST', `/v1/apps/waits/machines/${m}/lease`, { ttl: 30 })));
  const winners = replies.filter((r) => r.status === 201).length;
  report('lease race: 100 requests through 2 replicas', `${winners} winner`, `(${replies.filter((r) => r.status === 409).length} answered 409, all in ${ms(performance.now() - t0)})`);
  printTable();
} finally {
  await single.stop();
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
