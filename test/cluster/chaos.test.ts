/**
 * Chaos: 2 API replicas, 3 host agents (fake driver, realistic timings) and
 * PostgreSQL, under a steady mixed workload through both replicas (create, start,
 * stop, suspend, restart, update, destroy, leases, waits, changes that race),
 * while a seeded schedule kills (SIGKILL) and restarts host agents and replicas,
 * restarts PostgreSQL, and cuts one host (fra-3, whose store goes through a TCP
 * proxy) off from the database and heals it. Then everything is healed and the
 * workload stops. Checked throughout and at the end:
 *   - no machine ever has a VM on two hosts (from the hosts' fake ledgers);
 *   - every acknowledged change is in the final state (an acknowledged create's
 *     machine exists, the last acknowledged change decides the state it settles
 *     in, an acknowledged update's version is among its versions);
 *   - every waiter is answered (200, 408 or 503 host_unreachable) within its
 *     timeout and a little slack, or refused, never left hanging;
 *   - a lease acknowledged through one replica holds against the other;
 *   - within 30 s of every host being up, no machine is left in a transient state,
 *     and every host's VMs agree with the states of its machines.
 *
 * The seed is printed at the start; CHAOS_SEED=<seed> replays the same schedule
 * and the same choices of the workload (the timings of a real cluster differ from
 * run to run). CHAOS_SECONDS sets how long the chaos lasts (180 s).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLUSTER_TOKEN, fakeLedger, startCluster, type ClusterProcess, type HostSpec, type TestCluster } from '../helpers/cluster.ts';
import { doubleVms, expectedState, type Op, type OpKind, type Outcome, type Random, seededRandom, vmOfState, vmsNow } from '../helpers/chaos.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : randomInt(2 ** 31);
const CHAOS_MS = Number(process.env.CHAOS_SECONDS ?? 180) * 1000;
const WORKERS = 6;
const MACHINES_PER_WORKER = 3;
/** A waiter's answer may come this long after its timeout (the request's own way there and back, a busy 2-core machine). */
const WAIT_SLACK_MS = 5_000;
/** How long machines have to settle once every host is up again. */
const SETTLE_MS = 30_000;
const TRANSIENT = new Set(['creating', 'starting', 'stopping', 'restarting', 'suspending', 'destroying', 'launch_failed', 'updating', 'replacing']);

const image = 'registry.test/hello:1';
const config = (n: number) => ({ image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, restart: { policy: 'no' }, env: { N: String(n) } });
const HOSTS: HostSpec[] = [{ id: 'fra-1', region: 'fra' }, { id: 'fra-2', region: 'fra' }];
const CUT_OFF = 'fra-3';

interface Reply { status: number; body: any; error?: string; ms: number } // eslint-disable-line @typescript-eslint/no-explicit-any

/** See Outcome: what a reply promises about the change it answers. */
function outcomeOf(reply: Reply): Outcome {
  if (reply.status >= 200 && reply.status < 300) return 'acked';
  if (reply.status === 0) return reply.error === 'ECONNREFUSED' || reply.error === 'down' ? 'refused' : 'unknown';
  if (reply.status < 500) return 'refused';
  return reply.status === 503 && reply.body?.status === 'host_unreachable' ? 'refused' : 'unknown';
}

describe('chaos', { skip: postgresSkipReason() }, () => {
  let c: TestCluster;
  let proxy: TcpProxy;
  let cutOff: HostSpec;
  /** The replicas by slot; a slot is empty while its replica is down. */
  const replicas: Array<ClusterProcess | undefined> = [];
  /** Every process started, for the logs of a failed run. */
  const processes: ClusterProcess[] = [];
  const violations: string[] = [];
  const history = new Map<string, Op[]>();
  const counts = new Map<string, number>();
  const faults: string[] = [];
  /** When PostgreSQL was stopped, and when it answered again. */
  const outages: Array<{ from: number; to: number }> = [];
  /** Whether PostgreSQL was down at `at`, or had been back for under 3 s. */
  const postgresWasDown = (at: number) => outages.some(({ from, to }) => at >= from && at <= to + 3_000);
  const t0 = Date.now();
  const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

  before(async () => {
    console.log(`chaos: seed ${SEED} (replay with CHAOS_SEED=${SEED}), ${CHAOS_MS / 1000} s`);
    c = await startCluster({
      replicas: 2, hosts: HOSTS, fakeTiming: 'realistic',
      commonArgs: ['--heartbeat-interval', '500ms', '--host-lost-after', '2s'],
    });
    proxy = await startTcpProxy({ path: join(c.pg.dir, '.s.PGSQL.5432') });
    // fra-3 connects as its own role, through the proxy instead of the socket.
    const own = new URL((await c.credentials(CUT_OFF)).storeUrl);
    own.hostname = '127.0.0.1';
    own.port = String(proxy.port);
    own.searchParams.delete('host');
    own.searchParams.set('query_timeout', '3000');
    cutOff = { id: CUT_OFF, region: 'fra', extraArgs: ['--store', own.toString()] };
    await c.startHost(cutOff);
    replicas.push(...c.replicas);
    processes.push(...c.replicas, ...c.hosts.values());
    assert.equal((await call(0, 'POST', '/v1/apps', { name: 'web', org_slug: 'personal' })).status, 201);
  });
  after(async () => {
    await proxy?.close();
    // A process that does not end on SIGTERM is named, then killed.
    const stopping = c?.stop();
    const late = setTimeout(() => {
      const alive = processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
      console.log(`chaos: still running 20 s after SIGTERM: ${alive.map((p) => `${p.name} (pid ${p.child.pid})`).join(', ')}`);
      for (const p of alive) console.log(`--- ${p.name}\n${p.output().slice(-3000)}`);
      for (const p of alive) p.child.kill('SIGKILL');
    }, 20_000);
    await stopping;
    clearTimeout(late);
  });

  async function call(slot: number, method: string, path: string, body?: unknown, options: { timeoutMs?: number; nonce?: string } = {}): Promise<Reply> {
    const server = replicas[slot];
    const since = Date.now();
    if (!server) return { status: 0, body: undefined, error: 'down', ms: 0 };
    try {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${CLUSTER_TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.nonce ? { 'fly-machine-lease-nonce': options.nonce } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
      return { status: response.status, body: parsed, ms: Date.now() - since };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      const code = (error as Error).name === 'TimeoutError' ? 'no answer' : cause?.code ?? (error as Error).message;
      return { status: 0, body: undefined, error: code, ms: Date.now() - since };
    }
  }

  const count = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);
  const note = (machineId: string, op: Op, reply: Reply) => {
    history.set(machineId, [...(history.get(machineId) ?? []), op]);
    count(`${op.kind} ${op.outcome}${op.outcome === 'unknown' ? ` (${reply.status || reply.error})` : ''}`);
  };
  const describeReply = (reply: Reply) => `${reply.status || reply.error} ${reply.status ? JSON.stringify(reply.body).slice(0, 200) : ''}`;

  /** A client of the cluster: machines of its own, changed one request at a time through either replica. */
  async function worker(random: Random, until: number): Promise<void> {
    const mine: string[] = [];
    const leases = new Map<string, { nonce: string; until: number }>();
    const nonceOf = (id: string) => {
      const lease = leases.get(id);
      return lease && lease.until > Date.now() ? lease.nonce : undefined;
    };
    const slot = () => random.int(2);
    const path = (id: string, suffix = '') => `/v1/apps/web/machines/${id}${suffix}`;
    const change = async (id: string, kind: OpKind, on = slot(), nonce = nonceOf(id), concurrent = false): Promise<Reply> => {
      const force = random.chance(0.7);
      const reply = kind === 'update'
        ? await call(on, 'POST', path(id), { config: config(random.int(1_000_000)) }, { nonce })
        : kind === 'destroy'
          ? await call(on, 'DELETE', path(id, force ? '?force=true' : ''), undefined, { nonce })
          : await call(on, 'POST', path(id, `/${kind}`), kind === 'stop' ? {} : undefined, { nonce });
      const outcome = outcomeOf(reply);
      note(id, { kind, outcome, concurrent, ...(kind === 'update' && outcome === 'acked' ? { version: reply.body.instance_id } : {}) }, reply);
      if (kind === 'destroy' && outcome === 'acked' && mine.includes(id)) mine.splice(mine.indexOf(id), 1);
      return reply;
    };

    while (Date.now() < until) {
      const id = mine.length > 0 ? random.pick(mine) : undefined;
      const roll = random.next();
      if (id === undefined || (mine.length < MACHINES_PER_WORKER && roll < 0.12)) {
        const reply = await call(slot(), 'POST', '/v1/apps/web/machines', { region: 'fra', config: config(0) });
        const outcome = outcomeOf(reply);
        count(`create ${outcome}${outcome === 'unknown' ? ` (${reply.status || reply.error})` : ''}`);
        if (outcome === 'acked') {
          mine.push(reply.body.id);
          history.set(reply.body.id, [{ kind: 'create', outcome, version: reply.body.instance_id }]);
        }
      } else if (roll < 0.27) await change(id, 'start');
      else if (roll < 0.42) await change(id, 'stop');
      else if (roll < 0.52) await change(id, 'suspend');
      else if (roll < 0.56) await change(id, 'restart');
      else if (roll < 0.65) await change(id, 'update');
      else if (roll < 0.70) await change(id, 'destroy');
      else if (roll < 0.78) {
        // A lease through one replica holds against the other.
        const on = slot();
        const reply = await call(on, 'POST', path(id, '/lease'), { ttl: 30 }, { nonce: nonceOf(id) });
        count(`lease ${outcomeOf(reply)}`);
        if (reply.status === 201) {
          const nonce = reply.body.data.nonce as string;
          leases.set(id, { nonce, until: Date.now() + 25_000 });
          const intruder = await change(id, 'stop', 1 - on, '');
          if (intruder.status >= 200 && intruder.status < 300) violations.push(`${stamp()} lease: ${id} leased (nonce ${nonce}) was stopped without the nonce through the other replica`);
          await change(id, random.pick(['start', 'stop'] as const), slot(), nonce);
          const released = await call(slot(), 'DELETE', path(id, '/lease'), undefined, { nonce });
          if (outcomeOf(released) === 'acked') leases.delete(id);
        }
      } else if (roll < 0.94) {
        const state = random.pick(['started', 'stopped', 'suspended', 'settled', 'destroyed']);
        const timeoutS = 1 + random.int(8);
        const asked = Date.now();
        const reply = await call(slot(), 'GET', path(id, `/wait?state=${state}&timeout=${timeoutS}`), undefined, { timeoutMs: timeoutS * 1000 + 30_000 });
        count(`wait ${reply.status || reply.error}`);
        const answered = reply.status === 200 || reply.status === 408 || (reply.status === 503 && reply.body?.status === 'host_unreachable');
        // Refused: its replica died, or it could not reach PostgreSQL while that was down (a 500 today).
        const refused = (reply.status === 0 && reply.error !== 'no answer') || (reply.status === 500 && postgresWasDown(asked));
        if (!answered && !refused) violations.push(`${stamp()} wait: ${id} for ${state} within ${timeoutS} s answered ${describeReply(reply)} after ${reply.ms} ms`);
        else if (reply.ms > timeoutS * 1000 + WAIT_SLACK_MS) violations.push(`${stamp()} wait: ${id} for ${state} within ${timeoutS} s answered ${describeReply(reply)} only after ${reply.ms} ms`);
      } else {
        // Two changes of one machine at once, one through each replica.
        const kinds = random.shuffle(['start', 'stop', 'suspend', 'update', 'destroy'] as const).slice(0, 2) as OpKind[];
        const [a, b] = await Promise.all(kinds.map((kind, i) => change(id, kind, i, nonceOf(id), true)));
        // A change refused for certain raced with nothing: the other one is the last.
        const ops = history.get(id) ?? [];
        if (outcomeOf(a as Reply) === 'refused' || outcomeOf(b as Reply) === 'refused') for (const op of ops.slice(-2)) op.concurrent = false;
      }
      await sleep(random.between(50, 300));
    }
  }

  /** Faults one after another, each healed before the next; every round runs each kind once, in a seeded order. */
  async function chaos(random: Random, until: number): Promise<void> {
    const kinds = ['kill-host', 'kill-replica', 'restart-postgres', 'partition'] as const;
    let round: string[] = [];
    while (Date.now() < until) {
      if (round.length === 0) round = random.shuffle(kinds);
      const kind = round.shift();
      if (kind === 'kill-host') {
        const id = random.pick([...HOSTS.map((h) => h.id), CUT_OFF]);
        const downMs = random.between(300, 5_000);
        faults.push(`${stamp()} SIGKILL host ${id}, down ${Math.round(downMs)} ms`);
        const host = c.hosts.get(id) as ClusterProcess;
        await host.kill();
        await sleep(downMs);
        processes.push(await c.startHost(id === CUT_OFF ? cutOff : HOSTS.find((h) => h.id === id) as HostSpec, host.dataDir));
      } else if (kind === 'kill-replica') {
        const slot = random.int(2);
        const downMs = random.between(300, 3_000);
        faults.push(`${stamp()} SIGKILL replica ${slot}, down ${Math.round(downMs)} ms`);
        const replica = replicas[slot] as ClusterProcess;
        replicas[slot] = undefined;
        await replica.kill();
        await sleep(downMs);
        const back = await c.startReplica();
        processes.push(back);
        replicas[slot] = back;
      } else if (kind === 'restart-postgres') {
        const downMs = random.between(500, 4_000);
        faults.push(`${stamp()} PostgreSQL stopped, down ${Math.round(downMs)} ms`);
        const outage = { from: Date.now(), to: Infinity };
        outages.push(outage);
        await c.pg.pause();
        await sleep(downMs);
        await c.pg.resume();
        outage.to = Date.now();
      } else {
        const cutMs = random.between(1_000, 8_000);
        faults.push(`${stamp()} ${CUT_OFF} cut off from PostgreSQL for ${Math.round(cutMs)} ms`);
        proxy.blackhole(true);
        await sleep(cutMs);
        proxy.blackhole(false);
      }
      await sleep(random.between(2_000, 7_000));
    }
  }

  const ledgers = () => new Map([...HOSTS.map((h) => h.id), CUT_OFF].map((id) => [id, fakeLedger(c.hosts.get(id) as ClusterProcess)]));
  const checkDoubleVms = () => {
    for (const double of doubleVms(ledgers())) {
      const line = `two VMs: ${double.machineId} on ${double.hosts.join(' and ')} at ${new Date(double.at).toISOString()}`;
      if (!violations.includes(line)) violations.push(line);
    }
  };

  /** Writes every process's output (and PostgreSQL's log) to a directory, for a failed run. */
  const keepLogs = async (): Promise<string> => {
    const dir = mkdtempSync(join(tmpdir(), `hangar-chaos-${SEED}-`));
    for (const [name, sql] of [
      ['host_work', 'SELECT id, host_id, machine_id, doc FROM host_work ORDER BY id'],
      ['hosts', 'SELECT id, epoch, instance_id, state, heartbeat_at, registered_at FROM hosts ORDER BY id'],
      ['machines', 'SELECT id, host_id, state, rev, updated_at FROM machines ORDER BY id'],
      ['events', 'SELECT machine_id, doc FROM machine_events ORDER BY machine_id, id'],
    ]) {
      const found = await c.pg.sql(c.storeUrl, sql as string).then((r) => r.rows, (error: Error) => [{ error: error.message }]);
      writeFileSync(join(dir, `${name}.jsonl`), found.map((row) => JSON.stringify(row)).join('\n'));
    }
    processes.forEach((p, i) => writeFileSync(join(dir, `${String(i).padStart(2, '0')}-${p.name}.log`), p.output()));
    for (const [id, entries] of ledgers()) writeFileSync(join(dir, `${id}-ledger.jsonl`), entries.map((e) => JSON.stringify(e)).join('\n'));
    if (existsSync(join(c.pg.dir, 'server.log'))) copyFileSync(join(c.pg.dir, 'server.log'), join(dir, 'postgresql.log'));
    writeFileSync(join(dir, 'faults.txt'), faults.join('\n'));
    return dir;
  };

  it('keeps its promises while hosts, replicas and PostgreSQL fail', { timeout: CHAOS_MS + 240_000 }, async () => {
    const random = seededRandom(SEED);
    const until = Date.now() + CHAOS_MS;
    const ledgerCheck = setInterval(checkDoubleVms, 5_000);
    try {
      await Promise.all([
        chaos(random.fork('faults'), until),
        ...Array.from({ length: WORKERS }, (_, i) => worker(random.fork(`worker ${i}`), until)),
      ]);
    } finally {
      clearInterval(ledgerCheck);
    }

    // Everything is healed: once every host is up, machines have SETTLE_MS to settle.
    const hostsUp = async () => {
      const reply = await call(0, 'GET', '/hangar/v1/hosts');
      return reply.status === 200 && reply.body.length === 3 && reply.body.every((h: { status: string }) => h.status === 'up');
    };
    for (let i = 0; i < 150 && !await hostsUp(); i++) await sleep(200);
    if (!await hostsUp()) {
      const shown = JSON.stringify((await call(0, 'GET', '/hangar/v1/hosts')).body);
      console.log(`chaos: seed ${SEED}; ${faults.length} faults:\n  ${faults.join('\n  ')}\nchaos: logs of seed ${SEED} kept in ${await keepLogs()}`);
      assert.fail(`seed ${SEED}: hosts not all up 30 s after the chaos ended: ${shown}`);
    }
    const healthy = Date.now();
    type Shown = { id: string; state: string; host_id: string; instance_id: string };
    let machines: Shown[] = [];
    while (Date.now() - healthy < SETTLE_MS) {
      const reply = await call(0, 'GET', '/v1/apps/web/machines?include_deleted=true&summary=true');
      if (reply.status === 200) {
        machines = reply.body;
        if (!machines.some((m) => TRANSIENT.has(m.state))) break;
      }
      await sleep(500);
    }
    for (const m of machines.filter((m) => TRANSIENT.has(m.state))) {
      const events = (await call(0, 'GET', `/v1/apps/web/machines/${m.id}/events`)).body;
      violations.push(`stuck: ${m.id} on ${m.host_id} still ${m.state} ${SETTLE_MS / 1000} s after every host was up; events ${JSON.stringify(events).slice(0, 600)}`);
    }

    // The VMs as the hosts leave them once every work queue is drained (a stop of a suspended machine is
    // stopped at once, and its snapshot discarded by its host's work after): looked at until they agree, 10 s at most.
    const vmsAgainst = (listed: Shown[]) => {
      const found: string[] = [];
      const known = new Set(listed.map((m) => m.id));
      const now = new Map([...ledgers()].map(([id, entries]) => [id, vmsNow(entries)]));
      for (const m of listed) {
        const want = vmOfState(m.state);
        for (const [host, vms] of now) {
          const vm = vms.get(m.id) ?? 'absent';
          if (host === m.host_id ? want !== undefined && vm !== want : vm !== 'absent') found.push(`VM: ${m.id} is ${m.state} on ${m.host_id}, but ${host} has its VM ${vm}`);
        }
      }
      for (const [host, vms] of now) {
        for (const [id, vm] of vms) if (!known.has(id)) found.push(`VM: ${host} has a ${vm} VM of ${id}, which no machine record knows`);
      }
      return found;
    };
    let vmMismatches = vmsAgainst(machines);
    for (let i = 0; i < 20 && vmMismatches.length > 0; i++) {
      await sleep(500);
      const reply = await call(0, 'GET', '/v1/apps/web/machines?include_deleted=true&summary=true');
      if (reply.status === 200) machines = reply.body;
      vmMismatches = vmsAgainst(machines);
    }
    violations.push(...vmMismatches);
    checkDoubleVms();
    const shown = new Map(machines.map((m) => [m.id, m]));
    for (const [id, ops] of history) {
      const m = shown.get(id);
      if (!m) {
        violations.push(`acknowledged create lost: ${id} is not among the machines`);
        continue;
      }
      const expected = expectedState(ops);
      if (expected !== undefined && m.state !== expected) {
        violations.push(`acknowledged change lost: ${id} is ${m.state}, but its last acknowledged change leads to ${expected} (${ops.map((op) => `${op.kind}:${op.outcome}${op.concurrent ? '~' : ''}`).join(' ')})`);
      }
      const updates = ops.filter((op) => op.version !== undefined);
      if (updates.length > 0) {
        const versions = new Set(((await call(0, 'GET', `/v1/apps/web/machines/${id}/versions`)).body ?? []).map((v: { version: string }) => v.version));
        for (const op of updates) if (!versions.has(op.version)) violations.push(`acknowledged ${op.kind} lost: version ${op.version} of ${id} is not among its versions`);
      }
    }

    // The run was what it says: every kind of fault happened (in a run long enough for a round), and changes were made.
    if (CHAOS_MS >= 60_000) {
      for (const kind of ['SIGKILL host', 'SIGKILL replica', 'PostgreSQL stopped', 'cut off']) {
        if (!faults.some((fault) => fault.includes(kind))) violations.push(`the schedule never ran "${kind}"`);
      }
    }
    const acked = [...counts].filter(([what]) => / acked$/.test(what)).reduce((sum, [, n]) => sum + n, 0);
    if (acked < CHAOS_MS / 1000) violations.push(`only ${acked} changes were acknowledged in ${CHAOS_MS / 1000} s`);
    const summary = [...counts].sort().map(([what, n]) => `${what}: ${n}`).join(', ');
    console.log(`chaos: seed ${SEED}; ${faults.length} faults:\n  ${faults.join('\n  ')}\n${machines.length} machines; ${summary}`);
    if (violations.length > 0) {
      console.log(`chaos: logs of seed ${SEED} kept in ${await keepLogs()}`);
      assert.fail(`seed ${SEED}: ${violations.length} violations:\n${violations.slice(0, 40).join('\n')}`);
    }
  });
});
