/**
 * The SQLite database under the embedded store: one file through `node:sqlite`, in
 * WAL mode with full sync, so an acknowledged write survives a SIGKILL of the
 * server (and a host crash); its migrations, cached statements and transactions.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { StorageError } from '../store.ts';
import { MIGRATIONS } from './migrations.ts';

export type Row = Record<string, unknown>;

export class SqliteDatabase {
  protected readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

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

  async close(): Promise<void> {
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
