/**
 * A private PostgreSQL server for one test file: `initdb` into a temporary directory,
 * listening on a unix socket there only, one new database per store a test opens, and
 * everything stopped and removed afterwards. As root, the server runs as the
 * `postgres` system user (PostgreSQL refuses to run as root).
 *
 * The cluster's default collation is ICU's en-US, where "a" sorts before "B": the
 * store must not depend on the database's locale for its orders (its columns say "C").
 */
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The newest PostgreSQL's bin directory under /usr/lib/postgresql (Debian's layout), if any. */
export function findPostgresBin(root = '/usr/lib/postgresql'): string | undefined {
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
  return versions.map((version) => join(root, version, 'bin')).find((bin) => existsSync(join(bin, 'pg_ctl')) && existsSync(join(bin, 'initdb')));
}

/**
 * Why PostgreSQL tests cannot run here, or undefined when they can. Under CI a missing
 * PostgreSQL is an error, not a reason to skip: CI must test both stores.
 */
export function postgresSkipReason(): string | undefined {
  if (findPostgresBin()) return undefined;
  const why = 'PostgreSQL is not installed (no /usr/lib/postgresql/*/bin; scripts/setup-guest.sh installs it)';
  if (process.env.CI) throw new Error(`${why}: CI must run the PostgreSQL tests`);
  return why;
}

export interface TestPostgres {
  /** The socket directory (and the cluster's parent directory). */
  dir: string;
  /** A URL of a new, empty database. */
  createDatabase(): Promise<string>;
  /** Runs SQL on the database of `url` (for what only a test does: spoiling rows). */
  sql(url: string, text: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** Stops the server (fast shutdown: connections are ended), keeping its data. */
  pause(): Promise<void>;
  /** Starts it again on the same data and socket. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestPostgresOptions {
  /** Keep fsync on (benchmarks); tests turn it off for speed. */
  durable?: boolean;
  /** Lines added to postgresql.conf (a benchmark's `shared_preload_libraries`). */
  settings?: string[];
}

export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed');
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'hangar-pg-'));
  const data = join(dir, 'data');
  const pgRun = (tool: string, args: string[]) => asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);
  // Stopped even when the test process ends without its `after` hooks.
  const stopNow = () => spawnSync(asRoot ? 'runuser' : join(bin, 'pg_ctl'), [...(asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []), '-D', data, '-m', 'immediate', 'stop']);
  let started = false;
  const onExit = () => {
    if (started) stopNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    if (asRoot) chownSync(dir, idOf('-u'), idOf('-g'));
    const initdb = ['-D', data, '-U', 'hangar', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'];
    await pgRun('initdb', [...initdb, '--locale=C.UTF-8', '--locale-provider=icu', '--icu-locale=en-US'])
      .catch(() => { rmSync(data, { recursive: true, force: true }); return pgRun('initdb', [...initdb, '--no-locale']); });
    const settings = [
      "listen_addresses = ''",
      `unix_socket_directories = '${dir}'`,
      'max_connections = 200',
      ...(options.durable ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']),
      ...(options.settings ?? []),
    ];
    await appendFile(join(data, 'postgresql.conf'), `\n${settings.join('\n')}\n`);
    started = true; // from here on a server may run, even if starting it fails half-way
    await pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']).catch((error: Error) => {
      throw new Error(`PostgreSQL did not start: ${error.message}\n${readLog(dir)}`);
    });
  } catch (error) {
    process.removeListener('exit', onExit);
    onExit();
    throw error;
  }

  const urlOf = (database: string) => `postgresql://hangar@localhost/${database}?host=${encodeURIComponent(dir)}`;
  const sql = async (url: string, text: string, values: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(text, values);
    } finally {
      await client.end();
    }
  };
  let databases = 0;
  return {
    dir,
    async createDatabase() {
      const name = `store_${++databases}`;
      await sql(urlOf('postgres'), `CREATE DATABASE ${name}`);
      return urlOf(name);
    },
    sql,
    async pause() {
      await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    async resume() {
      await pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    },
    async stop() {
      process.removeListener('exit', onExit);
      try {
        await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The `postgres` system user's uid or gid (Debian's package makes that user). */
function idOf(flag: '-u' | '-g'): number {
  const id = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim();
  if (!/^\d+$/.test(id)) throw new Error('running as root, PostgreSQL needs the "postgres" system user, and there is none');
  return Number(id);
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'server.log'), 'utf8').slice(-4000);
  } catch {
    return '(no server log)';
  }
}
