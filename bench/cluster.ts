/**
 * Cluster benchmark: a durable PostgreSQL (fsync on), 8 host agents
 * (fake driver, instant) in two regions and 2 API replicas, against a single
 * `hangar serve` on SQLite run in the same session. Prints figures; asserts nothing.
 *
 *   node bench/cluster.ts        (BENCH_WARMUP, BENCH_CREATES, BENCH_CONCURRENCY, BENCH_RATE, BENCH_SECONDS, BENCH_LOST,
 *                                 BENCH_HEARTBEAT, BENCH_LOST_AFTER to change sizes; BENCH_STATEMENTS=1 lists them;
 *                                 BENCH_IMAGE: the image every machine is made of, by default one named by
 *                                 digest, which a host that holds it need not prepare again; `registry`:
 *                                 a tag in a real registry (Debian's docker-registry on loopback), which
 *                                 the replicas pin to its digest at each create by asking the registry;
 *                                 any other reference is used as given: a tag the replicas pin with the
 *                                 fake driver's made-up digest, asking no registry)
 *
 * 0. warm-up: BENCH_WARMUP (200) unmeasured creates on each, in an app of their own
 *    (connections opened, code compiled); no app reaches its limit of machines;
 * 1. creates: BENCH_CREATES (1,000) `skip_launch` creates through both replicas,
 *    BENCH_CONCURRENCY (32) in flight in all, half on each; how they spread over the
 *    hosts; and the statements PostgreSQL ran per create (pg_stat_statements: each
 *    is a round trip from a replica or a host) and the CPU time each kind of process
 *    used (/proc), the benchmark's own included. Then as many creates on the single
 *    SQLite hangar, as many in flight. Creates go over keep-alive connections (undici);
 * 2. GET p50/p99 of one machine at BENCH_RATE (1,000) req/s on one replica, and on
 *    the single SQLite hangar;
 * 3. wait release: BENCH_WAITS (200) starts through replica A, each waited for on
 *    replica B, against as many with the waiter on A (the difference is what crossing
 *    replicas costs); timed from the start request, and from the host's commit of
 *    `started` (the time of its event) to the answer;
 * 4. lease race: 100 lease requests at once through both replicas;
 * 5. lost hosts, BENCH_LOST (2) times: a host agent with a machine is killed
 *    (SIGKILL); the time until `GET /hangar/v1/hosts` shows it `lost`, and from
 *    then until a standby of that machine (`config.standbys`, on another host)
 *    is `started`, as a waiter on the other replica hears it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request as undiciRequest } from 'undici';
import { CLUSTER_TOKEN, startCluster } from '../test/helpers/cluster.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { request, startServerProcess } from '../test/helpers/server-process.ts';
import { cpuMsOf, figureTable, machineFacts, ms, openLoop, summarize, withChildren } from './lib.ts';

const CREATES = Number(process.env.BENCH_CREATES ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LOST = Number(process.env.BENCH_LOST ?? 2);
const HEARTBEAT = process.env.BENCH_HEARTBEAT ?? '2s';
const LOST_AFTER = process.env.BENCH_LOST_AFTER ?? '10s';
const WAITS = Number(process.env.BENCH_WAITS ?? 200);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 200);
const { report, printTable } = figureTable();
const IN_REGISTRY = process.env.BENCH_IMAGE === 'registry';
const registry = IN_REGISTRY ? await startRegistry() : undefined;
if (registry) await pushImage(registry.host, 'bench/app', '1', [{ compression: 'gzip', files: { '/hello': { mode: 0o644, content: Buffer.from('hello\n') } } }], { config: { Cmd: ['/hello'] } });
const IMAGE = registry ? `${registry.host}/bench/app:1` : process.env.BENCH_IMAGE ?? `registry.test/app@sha256:${'0'.repeat(64)}`;
const config = { image: IMAGE, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };
type Call = (index: number, method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any

console.log(`machine: ${machineFacts()}`);
console.log(`image: ${IMAGE}`);
const hosts = Array.from({ length: 8 }, (_, i) => ({ id: `h${i + 1}`, region: i % 2 ? 'syd' : 'fra' }));
const cluster = await startCluster({
  hosts, replicas: 2, fakeTiming: 'instant', durable: true,
  postgresSettings: ["shared_preload_libraries = 'pg_stat_statements'"],
  // As the single hangar below: the creates stay short of the app's limit, near which an app's creates take turns.
  commonArgs: ['--heartbeat-interval', HEARTBEAT, '--host-lost-after', LOST_AFTER, '--max-machines-per-app', String(CREATES + 100)],
  // Replicas of hosts that pull from registries ask the registry to pin a tag; of fake hosts, they make a digest up.
  ...(registry ? { replicaArgs: ['--driver', 'qemu'] } : {}),
});
const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-single-'));
const single = await startServerProcess(join(dir, 'data'), 'bench-token', ['--driver', 'fake', '--fake-timing', 'instant', '--max-machines-per-app', String(CREATES + 100)]);
const call = cluster.call;
const keepAlive = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
/** A JSON call over keep-alive connections: lighter on the benchmark's own CPU than fetch, which creates spend most of theirs in. */
const lean = (url: (index: number) => string, token: string): Call => async (index, method, path, body) => {
  const response = await undiciRequest(`${url(index)}${path}`, {
    method: method as 'POST', dispatcher: keepAlive, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
};
const onReplicas = lean((index) => cluster.replicas[index]?.url as string, CLUSTER_TOKEN);
const onSingle = lean(() => single.url, 'bench-token');
const sql = (text: string) => cluster.pg.sql(cluster.storeUrl, text);

/** `count` skip_launch creates through `via`, CONCURRENCY in flight, client `i` on replica `i % 2`: rate and latencies. */
async function creates(via: Call, app: string, regions: string[], count = CREATES): Promise<{ rate: number; p50: number; p99: number }> {
  let next = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, worker) => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      const reply = await via(worker % 2, 'POST', `/v1/apps/${app}/machines`, { skip_launch: true, region: regions[i % regions.length], config });
      if (reply.status !== 200) throw new Error(`create answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      latencies.push(performance.now() - t0);
    }
  }));
  const rate = count / ((performance.now() - start) / 1000);
  return { rate, ...summarize(latencies) };
}

/** CPU time used so far (ms) by the replicas, the host agents, PostgreSQL (its server and every backend) and the single hangar. */
function cpu(): { replicas: number; hosts: number; postgres: number; registry: number; single: number } {
  const postmaster = Number(readFileSync(join(cluster.pg.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids = (processes: Array<{ child: { pid?: number } }>) => processes.map((p) => p.child.pid ?? 0);
  return {
    replicas: cpuMsOf(pids(cluster.replicas)),
    hosts: cpuMsOf(pids([...cluster.hosts.values()])),
    postgres: cpuMsOf(withChildren(postmaster)),
    registry: registry?.pid ? cpuMsOf([registry.pid]) : 0,
    single: cpuMsOf(pids([single])),
  };
}

/**
 * Statements run since the last reset, by who ran them: the replicas (the database's
 * owner) and the hosts (their own roles). The body of the row-level security policies'
 * function, which runs inside hosts' statements, is not one.
 */
async function statements(): Promise<{ replicas: number; hosts: number; top: Array<{ calls: number; who: string; query: string; mean: number }> }> {
  const found = (await sql(`SELECT r.rolname AS who, s.calls::integer AS calls, s.query, s.mean_exec_time AS mean FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
    WHERE s.query NOT LIKE '%pg_stat_statements%' AND s.query NOT LIKE '%session_user%' ORDER BY s.calls DESC`)).rows as Array<{ who: string; calls: number; query: string; mean: number }>;
  const sum = (host: boolean) => found.filter((row) => row.who.startsWith('hangar_host') === host).reduce((total, row) => total + row.calls, 0);
  return { replicas: sum(false), hosts: sum(true), top: found };
}

try {
  await sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await call(0, 'POST', '/v1/apps', { name: 'bench', org_slug: 'personal' });
  // Waits and leases in an app of their own.
  await call(0, 'POST', '/v1/apps', { name: 'waits', org_slug: 'personal' });
  await request(single, 'POST', '/v1/apps', { name: 'bench' });
  // Unmeasured creates first, in an app of their own: connections opened, code compiled.
  await call(0, 'POST', '/v1/apps', { name: 'warmup', org_slug: 'personal' });
  await request(single, 'POST', '/v1/apps', { name: 'warmup' });
  await creates(onReplicas, 'warmup', ['fra', 'syd'], WARMUP);
  await creates(onSingle, 'warmup', ['local'], WARMUP);

  // 1. Creates through both replicas, then on the single SQLite hangar.
  await sql('SELECT pg_stat_statements_reset()');
  const cpu0 = cpu();
  const client0 = process.cpuUsage();
  const onCluster = await creates(onReplicas, 'bench', ['fra', 'syd']);
  const client = process.cpuUsage(client0);
  const cpu1 = cpu();
  const ran = await statements();
  const spread = ((await call(0, 'GET', '/hangar/v1/hosts')).body as Array<{ id: string; machines: number }>).map((h) => `${h.id} ${h.machines}`).join(', ');
  const cpu2 = cpu();
  const alone = await creates(onSingle, 'bench', ['local']);
  const cpu3 = cpu();
  const perCreate = (total: number) => `${(total / CREATES).toFixed(2)} ms`;
  report('creates (skip_launch) through 2 replicas onto 8 hosts', `${onCluster.rate.toFixed(0)} machines/s`,
    `(${CREATES} creates, ${CONCURRENCY} in flight, p50 ${ms(onCluster.p50)}, p99 ${ms(onCluster.p99)}; ${spread})`);
  report('creates (skip_launch) on the single SQLite hangar', `${alone.rate.toFixed(0)} machines/s`,
    `(${CREATES} creates, ${CONCURRENCY} in flight, p50 ${ms(alone.p50)}, p99 ${ms(alone.p99)}; ratio cluster / single ${(onCluster.rate / alone.rate).toFixed(2)}×)`);
  report('PostgreSQL statements per create (round trips)', `${((ran.replicas + ran.hosts) / CREATES).toFixed(1)}`,
    `(replicas ${(ran.replicas / CREATES).toFixed(1)}, hosts ${(ran.hosts / CREATES).toFixed(1)}; heartbeats and other background statements included)`);
  const clusterCpu = (at: ReturnType<typeof cpu>) => at.replicas + at.hosts + at.postgres + at.registry;
  report('CPU per create, cluster', perCreate(clusterCpu(cpu1) - clusterCpu(cpu0)),
    `(replicas ${perCreate(cpu1.replicas - cpu0.replicas)}, hosts ${perCreate(cpu1.hosts - cpu0.hosts)}, PostgreSQL ${perCreate(cpu1.postgres - cpu0.postgres)}`
    + `${registry ? `, the registry ${perCreate(cpu1.registry - cpu0.registry)}` : ''}; `
    + `the benchmark's own client ${perCreate((client.user + client.system) / 1000)})`);
  report('CPU per create, single SQLite hangar', perCreate(cpu3.single - cpu2.single));
  if (process.env.BENCH_STATEMENTS) {
    for (const row of ran.top.slice(0, 25)) console.log(`  ${(row.calls / CREATES).toFixed(2)}  ${row.mean.toFixed(3)} ms  ${row.who.startsWith('hangar_host') ? 'host   ' : 'replica'}  ${row.query.replace(/\s+/g, ' ').slice(0, 150)}`);
  }

  // 2. GET latency on one replica, and on the single SQLite hangar.
  const one = (await call(0, 'GET', '/v1/apps/bench/machines?summary=true')).body[0].id as string;
  const onSingleId = (await request(single, 'GET', '/v1/apps/bench/machines?summary=true')).body[0].id as string;
  const sqliteRun = summarize((await openLoop(`${single.url}/v1/apps/bench/machines/${onSingleId}`, { authorization: 'Bearer bench-token' }, RATE, SECONDS)).latencies);
  const pgRun = await openLoop(`${cluster.replicas[0]?.url}/v1/apps/bench/machines/${one}`, { authorization: `Bearer ${CLUSTER_TOKEN}` }, RATE, SECONDS);
  const pgFigures = summarize(pgRun.latencies);
  report(`GET machine at ${RATE} req/s on one replica, p50`, ms(pgFigures.p50), `(single hangar on SQLite ${ms(sqliteRun.p50)}, ratio ${(pgFigures.p50 / sqliteRun.p50).toFixed(2)}×)`);
  report(`GET machine at ${RATE} req/s on one replica, p99`, ms(pgFigures.p99), `(single hangar on SQLite ${ms(sqliteRun.p99)}, ratio ${(pgFigures.p99 / sqliteRun.p99).toFixed(2)}×; ${pgRun.errors} errors)`);

  // 3. Wait release: a start through replica 0, waited for on replica 1 (across) or on 0 (same).
  // Also from the host's commit of `started` (its event's time, this machine's clock) to the answer: the release alone.
  const startAndWait = async (waiter: number): Promise<{ whole: number; release: number }> => {
    const m = (await call(0, 'POST', '/v1/apps/waits/machines', { skip_launch: true, region: 'fra', config })).body.id as string;
    let answeredAt = 0;
    const waiting = call(waiter, 'GET', `/v1/apps/waits/machines/${m}/wait?state=started&timeout=30`).then((reply) => { answeredAt = Date.now(); return reply; });
    await sleep(20);
    const t0 = performance.now();
    await call(0, 'POST', `/v1/apps/waits/machines/${m}/start`);
    const reply = await waiting;
    if (reply.status !== 200) throw new Error(`wait answered ${reply.status}`);
    const whole = performance.now() - t0;
    const events = (await call(0, 'GET', `/v1/apps/waits/machines/${m}`)).body.events as Array<{ type: string; status: string; timestamp: number }>;
    const started = events.find((event) => event.type === 'start' && event.status === 'started');
    if (!started) throw new Error(`machine ${m} has no started event`);
    return { whole, release: answeredAt - started.timestamp };
  };
  const across: Array<{ whole: number; release: number }> = [];
  const same: Array<{ whole: number; release: number }> = [];
  for (let i = 0; i < WAITS; i++) {
    across.push(await startAndWait(1));
    same.push(await startAndWait(0));
  }
  const a = summarize(across.map((run) => run.whole));
  const s = summarize(same.map((run) => run.whole));
  report('start on replica A → waiter on replica B answered, p50 / p99', `${ms(a.p50)} / ${ms(a.p99)}`, `(waiter on A itself: ${ms(s.p50)} / ${ms(s.p99)}; crossing costs ${ms(a.p50 - s.p50)} at p50; ${WAITS} each, the start boots on a host agent)`);
  const ra = summarize(across.map((run) => run.release));
  const rs = summarize(same.map((run) => run.release));
  report('host commits started → waiter on replica B answered, p50 / p99', `${ms(ra.p50)} / ${ms(ra.p99)}`, `(waiter on A: ${ms(rs.p50)} / ${ms(rs.p99)}; from the started event's time, to the millisecond)`);

  // 4. Lease race.
  const m = (await call(0, 'POST', '/v1/apps/waits/machines', { skip_launch: true, region: 'fra', config })).body.id as string;
  const t0 = performance.now();
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => call(i % 2, 'POST', `/v1/apps/waits/machines/${m}/lease`, { ttl: 30 })));
  const winners = replies.filter((r) => r.status === 201).length;
  report('lease race: 100 requests through 2 replicas', `${winners} winner`, `(${replies.filter((r) => r.status === 409).length} answered 409, all in ${ms(performance.now() - t0)})`);

  // 5. Lost hosts: a host with a machine killed; its declaration, then the machine's standby started elsewhere.
  const declared: number[] = [];
  const standbys: number[] = [];
  const statusOf = async (id: string) => ((await call(0, 'GET', '/hangar/v1/hosts')).body as Array<{ id: string; status: string }>).find((h) => h.id === id)?.status;
  for (let i = 0; i < LOST; i++) {
    const watched = (await call(0, 'POST', '/v1/apps/waits/machines', { skip_launch: true, region: 'fra', config })).body as { id: string; host_id: string };
    const standby = (await call(0, 'POST', '/v1/apps/waits/machines', { skip_launch: true, region: 'syd', config: { ...config, standbys: [watched.id] } })).body.id as string;
    const waiting = call(1, 'GET', `/v1/apps/waits/machines/${standby}/wait?state=started&timeout=60`);
    await sleep(50);
    const killed = performance.now();
    await cluster.hosts.get(watched.host_id)?.kill();
    while (await statusOf(watched.host_id) !== 'lost') await sleep(20);
    const lost = performance.now();
    const reply = await waiting;
    if (reply.status !== 200) throw new Error(`the standby's wait answered ${reply.status}: ${JSON.stringify(reply.body)}`);
    declared.push(lost - killed);
    standbys.push(performance.now() - lost);
  }
  report(`host killed → shown lost (--host-lost-after ${LOST_AFTER}, --heartbeat-interval ${HEARTBEAT})`, declared.map((t) => `${(t / 1000).toFixed(2)} s`).join(', '),
    `(${LOST} hosts, one after another, polled every 20 ms)`);
  report('declared lost → standby started', standbys.map(ms).join(', '), '(waiter on the other replica)');
  printTable();
  await keepAlive.close();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  // A replica that still holds a create waiting for its host would not end on SIGTERM.
  const stopped = Promise.all([single.stop(), cluster.stop()]);
  if (await Promise.race([stopped.then(() => true), sleep(20_000).then(() => false)]) === false) {
    for (const p of [single, ...cluster.replicas, ...cluster.hosts.values()]) p.child.kill('SIGKILL');
    await cluster.pg.stop();
  }
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
}
