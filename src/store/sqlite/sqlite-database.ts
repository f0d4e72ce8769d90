/**
 * The SQLite database under the embedded store: one file through `node:sqlite`, in
 * WAL mode with full sync, so an acknowledged write survives a SIGKILL of the
 * server (and a host crash); its migrations, cached statements and transactions.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { StorageError } from '../errors.ts';
import { MIGRATIONS } from './migrations.ts';

export type Row = Record<string, unknown>;

/** A write waiting for the next group commit. */
interface Grouped {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SqliteDatabase {
  protected readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  private readonly waiting: Grouped[] = [];
  private flushing: NodeJS.Immediate | undefined;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
    this.migrate();
  }

  private migrate(): void {
    const row = this.db.prepare('PRAGMA user_version').get() as { user_version: number };
    for (let i = row.user_version; i < MIGRATIONS.length; i++) {
      this.transaction(() => {
        this.db.exec(MIGRATIONS[i] as string);
        this.db.exec(`PRAGMA user_version = ${i + 1}`);
      });
    }
  }

  protected sql(text: string): StatementSync {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  protected transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      // After some errors (a full disk, an I/O error) SQLite has rolled back already and
      // ROLLBACK itself fails; the error that matters is the first one.
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw storageError(error) ?? error;
    }
  }

  /**
   * Runs `work` as its own transaction, as `transaction` does, but committed with
   * the other writes asked for in the same turn of the event loop: each is a
   * savepoint of one transaction (one that throws is rolled back alone and
   * rejected), and one commit, so one sync of the disk, makes them all durable.
   * Each resolves once that commit is done; if it fails, all are rejected. The
   * whole group runs in one synchronous call, so no read sees a write of it before
   * its commit.
   */
  protected grouped<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.flushing ??= setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushing = undefined;
    const group = this.waiting.splice(0);
    if (group.length === 0) return;
    const failAll = (error: unknown) => {
      for (const write of group) write.reject(storageError(error) ?? error);
    };
    if (!this.db.isOpen) return failAll(new Error('the database is closed'));
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      return failAll(error);
    }
    const outcomes: Array<{ value: unknown } | { error: unknown }> = [];
    for (const write of group) {
      this.db.exec('SAVEPOINT grouped_write');
      try {
        const value = write.work();
        this.db.exec('RELEASE grouped_write');
        outcomes.push({ value });
      } catch (error) {
        // After some errors (a full disk, an I/O error) SQLite has rolled back the whole transaction: every write of it is lost.
        if (!this.db.isTransaction) return failAll(error);
        this.db.exec('ROLLBACK TO grouped_write');
        this.db.exec('RELEASE grouped_write');
        outcomes.push({ error: storageError(error) ?? error });
      }
    }
    try {
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      return failAll(error);
    }
    group.forEach((write, i) => {
      const outcome = outcomes[i] as { value: unknown } | { error: unknown };
      if ('error' in outcome) write.reject(outcome.error);
      else write.resolve(outcome.value);
    });
  }

  async close(): Promise<void> {
    // Writes asked for are committed (or refused) before the database closes.
    if (this.flushing) {
      clearImmediate(this.flushing);
      this.flush();
    }
    if (this.db.isOpen) this.db.close();
  }
}

/** SQLite's primary result codes that mean the database could not be written. */
const STORAGE_CODES = new Set([8 /* READONLY */, 10 /* IOERR */, 13 /* FULL */, 14 /* CANTOPEN */]);

/** A StorageError for SQLite's "could not write" errors (extended codes included), else undefined. */
function storageError(error: unknown): StorageError | undefined {
  const sqlite = error as { code?: string; errcode?: number; errstr?: string; message?: string };
  if (sqlite?.code !== 'ERR_SQLITE_ERROR' || sqlite.errcode === undefined || !STORAGE_CODES.has(sqlite.errcode & 0xff)) return undefined;
  return new StorageError(sqlite.errstr || sqlite.message || `SQLite error ${sqlite.errcode}`, { cause: error });
}
