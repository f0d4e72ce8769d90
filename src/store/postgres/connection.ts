/**
 * The PostgreSQL connection pool and the two ways the store talks through it: one
 * statement, or a transaction on one connection. PostgreSQL's "could not write"
 * errors become StorageError here, once, for both.
 */
import pg from 'pg';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { StorageError } from '../errors.ts';

/** How long a request waits for a free connection of the pool. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Longest any statement may run, lock waits included, before PostgreSQL cancels it. */
const STATEMENT_TIMEOUT_MS = 30_000;
/**
 * Longest a query waits for its answer, on this side: a server gone silent (a
 * partition, a failover that sent no reset) cannot cancel anything, so the client
 * gives up itself, a little after the server would have.
 */
const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 5_000;

export interface PoolOptions {
  url: string;
  size: number;
  /** Told of an idle connection that broke (the pool drops it and opens another when needed). */
  onIdleError?: (error: Error) => void;
}

export function openPool(options: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.size,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: 'hangar',
  });
  // Without a listener, a connection that breaks while idle would crash the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}

/** Something that runs SQL: the pool (a statement of its own) or the connection of a transaction. */
export type Sql = Pick<Pool | PoolClient, 'query'>;

/** Runs one statement; its rows. */
export async function rows<R extends QueryResultRow>(db: Sql, text: string, values: unknown[] = []): Promise<R[]> {
  return (await run<R>(db, text, values))?.rows ?? [];
}

/** Runs one statement; how many rows it wrote. */
export async function changed(db: Sql, text: string, values: unknown[] = []): Promise<number> {
  return (await run(db, text, values))?.rowCount ?? 0;
}

/**
 * PostgreSQL's text cannot hold U+0000, so no row holds it: a statement with such a
 * parameter (a hostile id in a URL) matches no row and is not sent, since PostgreSQL
 * would refuse it and, in a transaction, fail the transaction. Only an insert of one
 * is an error. Documents are JSON, where that character is written `\u0000`.
 */
async function run<R extends QueryResultRow>(db: Sql, text: string, values: unknown[]): Promise<QueryResult<R> | undefined> {
  if (values.some(holdsNul)) {
    if (/\bINSERT\b/i.test(text)) throw new Error('PostgreSQL cannot store text holding U+0000 (NUL) outside a JSON document');
    return undefined;
  }
  try {
    return await db.query<R>({ name: values.length > 0 ? statementName(text) : undefined, text, values });
  } catch (error) {
    throw storageError(error) ?? error;
  }
}

const names = new Map<string, string>();
/** Texts vary with filters (a clause per metadata key): past this many, a new text is not kept prepared. */
const MAX_NAMED = 500;

/**
 * A name per statement text: node-postgres prepares a named statement once per
 * connection, and PostgreSQL then parses and plans it once, not at every call.
 */
function statementName(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `hangar_${names.size + 1}`;
    names.set(text, name);
  }
  return name;
}

function holdsNul(value: unknown): boolean {
  return typeof value === 'string' ? value.includes('\u0000') : Array.isArray(value) && value.some(holdsNul);
}

/** What `transaction` needs of a pool: a connection of its own. */
export interface Connector {
  connect(): Promise<Pick<PoolClient, 'query' | 'release' | 'on' | 'removeListener'>>;
}

/**
 * Runs `work` in one transaction on one connection: committed if it returns, rolled
 * back if it throws. The error thrown is always the first one: a ROLLBACK that fails
 * too (the connection broke) only gets the connection thrown away.
 */
export async function transaction<T>(pool: Connector, work: (db: Sql) => Promise<T>): Promise<T> {
  let client;
  try {
    client = await pool.connect();
  } catch (error) {
    throw storageError(error) ?? error;
  }
  let broken: Error | undefined;
  // A checked-out connection that breaks between statements reports it as an
  // 'error' event: unheard, it would end the process. Heard, the next statement
  // fails, and the connection is thrown away.
  const onError = (error: Error) => { broken ??= error; };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    throw storageError(error) ?? error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/** PostgreSQL's SQLSTATE of an error, if it is one of its. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === '23505';
}

/**
 * A StorageError for PostgreSQL's "could not write" errors, else undefined: class 53
 * (insufficient resources: disk full, out of memory, too many connections) and class 58
 * (system errors: I/O). The message is PostgreSQL's own.
 */
export function storageError(error: unknown): StorageError | undefined {
  if (error instanceof StorageError) return error;
  const state = sqlState(error);
  if (!state || !(state.startsWith('53') || state.startsWith('58'))) return undefined;
  return new StorageError((error as Error).message || `PostgreSQL error ${state}`, { cause: error });
}
