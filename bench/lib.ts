/** Small helpers for benchmarks: percentiles, an open-loop load generator, first answers, machine facts. */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function summarize(latencies: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

export const ms = (n: number) => `${n.toFixed(2)} ms`;

/**
 * Sends `rate` requests per second for `seconds` over keep-alive connections, on a
 * schedule that does not wait for answers (open loop). Each request is timed from
 * when it was sent; `lags` records how late the generator sent it, so a figure
 * spoiled by the generator itself shows as lag rather than as server latency.
 */
export async function openLoop(url: string, headers: Record<string, string>, rate: number, seconds: number): Promise<{ latencies: number[]; lags: number[]; errors: number; achievedRate: number }> {
  const agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 30_000 });
  const total = rate * seconds;
  const latencies: number[] = [];
  const lags: number[] = [];
  let errors = 0;
  const started = performance.now();
  const inflight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inflight.push((async () => {
      const sent = performance.now();
      lags.push(Math.max(0, sent - due));
      try {
        const response = await request(url, { headers, dispatcher: agent });
        await response.body.arrayBuffer();
        if (response.statusCode !== 200) errors++;
        latencies.push(performance.now() - sent);
      } catch {
        errors++;
      }
    })());
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - started) / 1000;
  await agent.close();
  return { latencies, lags, errors, achievedRate: total / elapsed };
}

/**
 * `connections` clients, each sending its next request as soon as the last one is
 * answered, for `seconds` (closed loop, fixed concurrency). Every request is timed.
 * undici reconnects cleanly when the server closes after each answer (busybox
 * httpd does), which autocannon does not time correctly: against such a server it
 * reports latencies far above 1 / throughput.
 */
export async function closedLoop(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<{ latencies: number[]; errors: number; rate: number }> {
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const stop = started + seconds * 1000;
  const client = async () => {
    while (performance.now() < stop) {
      const sent = performance.now();
      try {
        const response = await request(url, { headers, dispatcher: agent });
        await response.body.arrayBuffer();
        if (response.statusCode === 200) latencies.push(performance.now() - sent);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  const elapsed = (performance.now() - started) / 1000;
  await agent.close();
  return { latencies, errors, rate: latencies.length / elapsed };
}

/** The host's MemAvailable, in bytes. */
export function memAvailable(): number {
  return Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) * 1024;
}

/** A process's proportional set size (shared pages split among their users), in bytes. */
export function pssOf(pid: number | string): number {
  return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1]) * 1024;
}

/** Clock ticks per second of /proc's CPU times (Linux's USER_HZ, 100 wherever Node runs). */
const TICKS_PER_S = 100;

/**
 * CPU time (user + system, in ms) used so far by processes `pids`, with what their
 * children that ended used; 0 for a process gone.
 */
export function cpuMsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command (which may hold spaces): state is 3rd; utime, stime, cutime, cstime are 14th to 17th.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      ticks += fields.slice(11, 15).reduce((sum, field) => sum + Number(field), 0);
    } catch {
      // gone
    }
  }
  return (ticks * 1000) / TICKS_PER_S;
}

/** Process `pid` and its children now. */
export function withChildren(pid: number): number[] {
  const children = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((name) => {
    try {
      return readFileSync(`/proc/${name}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1] === String(pid);
    } catch {
      return false;
    }
  });
  return [pid, ...children.map(Number)];
}

export function machineFacts(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, Node ${process.version}`;
}

/** Times in ms as `p50 … ms (min …, max …, n=…)`. */
export function formatTimes(values: number[]): string {
  const s = summarize(values);
  return `p50 ${s.p50.toFixed(0)} ms (min ${Math.min(...values).toFixed(0)}, max ${s.max.toFixed(0)}, n=${s.n})`;
}

/** Figures printed as they come, then again as a Markdown table at the end. */
export function figureTable(): { report: (what: string, value: string, note?: string) => void; printTable: () => void } {
  const rows: string[][] = [];
  return {
    report(what, value, note = '') {
      rows.push([what, value, note]);
      console.log(`${what}: ${value} ${note}`);
    },
    printTable() {
      console.log('\n| measure | figure | notes |\n|---|---|---|');
      for (const [what, value, note] of rows) console.log(`| ${what} | ${value} | ${note} |`);
    },
  };
}

/**
 * When `url` first answers 2xx: a new request every `pollMs` (at most 8 under way),
 * each left to finish, so that a request sent before a waking guest could hear it
 * (its SYN dropped) does not hide a later answer.
 */
export async function answered(url: string, pollMs = 20, deadlineMs = 120_000): Promise<number> {
  const start = performance.now();
  let done: number | undefined;
  let underWay = 0;
  while (done === undefined && performance.now() - start < deadlineMs) {
    if (underWay < 8) {
      underWay++;
      void fetch(url, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => { await r.arrayBuffer(); if (r.ok) done ??= performance.now(); })
        .catch(() => undefined)
        .finally(() => underWay--);
    }
    await sleep(pollMs);
  }
  if (done === undefined) throw new Error(`no answer from ${url}`);
  return done;
}
