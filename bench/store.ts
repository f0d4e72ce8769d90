/**
 * Store benchmark: machine writes per second, SQLite against PostgreSQL. Each unit is
 * what creating and then starting a machine writes: insertMachine (record, first
 * version, one event) and one commit (record, one event). SQLite is a file in a
 * temporary directory (WAL, synchronous=FULL); PostgreSQL a private server on a unix
 * socket with fsync on (test/helpers/postgres.ts). Prints figures; asserts nothing.
 *
 *   node bench/store.ts     (BENCH_WRITES, default 2000; BENCH_CONCURRENCY, default 16)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../src/store/store.ts';
import { startTestPostgres } from '../test/helpers/postgres.ts';
import { app, event, insert, machine } from '../test/helpers/store-fixtures.ts';
import { machineFacts } from './lib.ts';

const WRITES = Number(process.env.BENCH_WRITES ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

/** insertMachine + commit for `count` machines, `parallel` at a time; machine pairs per second. */
async function run(store: Store, label: string, count: number, parallel: number): Promise<number> {
  await store.createApp(app(label));
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    for (let i = next++; i < count; i = next++) {
      const id = `${label}-${i}`;
      const inserted = await insert(store, machine({ id, appName: label }), [event(id, 1)]);
      await store.commit({ machine: { ...inserted, state: 'started' }, events: [event(id, 2)] });
    }
  }));
  return count / ((performance.now() - started) / 1000);
}

const report = (what: string, perSecond: number) => console.log(`${what}: ${perSecond.toFixed(0)} insert+commit/s (${(perSecond * 2).toFixed(0)} writes/s)`);

console.log(`machine: ${machineFacts()}; ${WRITES} machines per run`);
const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-store-'));
const sqlite = new SqliteStore(join(dir, 'hangar.db'));
try {
  report('SQLite, one writer', await run(sqlite, 'sqlite-1', WRITES, 1));
  report(`SQLite, ${CONCURRENCY} in flight`, await run(sqlite, 'sqlite-n', WRITES, CONCURRENCY));
} finally {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
}

const server = await startTestPostgres({ durable: true });
try {
  const url = await server.createDatabase();
  const postgres = await PostgresStore.open({ url, poolSize: 10 });
  try {
    report('PostgreSQL, one writer', await run(postgres, 'pg-1', WRITES, 1));
    report(`PostgreSQL, ${CONCURRENCY} in flight, pool 10`, await run(postgres, 'pg-n', WRITES, CONCURRENCY));
  } finally {
    await postgres.close();
  }
} finally {
  await server.stop();
}
