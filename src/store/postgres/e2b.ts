/** The PostgreSQL store's E2B records (see store/e2b-records.ts). Hosts have no grant on them. */
import type { Pool } from 'pg';
import { type E2bKind, parseE2bDoc } from '../e2b-records.ts';
import { DuplicateError } from '../errors.ts';
import { rows } from './connection.ts';

export abstract class PostgresE2b {
  protected readonly pool: Pool;

  protected constructor(pool: Pool) {
    this.pool = pool;
  }

  async insertE2bRecord(kind: E2bKind, id: string, doc: unknown): Promise<void> {
    const inserted = await rows(this.pool, 'INSERT INTO e2b_records (kind, id, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id', [kind, id, JSON.stringify(doc)]);
    if (inserted.length === 0) throw new DuplicateError(kind, `${kind} "${id}" already exists`);
  }

  async getE2bRecord(kind: E2bKind, id: string): Promise<unknown> {
    const [row] = await rows<{ doc: string }>(this.pool, 'SELECT doc FROM e2b_records WHERE kind = $1 AND id = $2', [kind, id]);
    return row ? parseE2bDoc(row.doc) : undefined;
  }

  async listE2bRecords(kind: E2bKind): Promise<unknown[]> {
    return (await rows<{ doc: string }>(this.pool, 'SELECT doc FROM e2b_records WHERE kind = $1 ORDER BY id', [kind])).map((row) => parseE2bDoc(row.doc));
  }

  async deleteE2bRecord(kind: E2bKind, id: string): Promise<boolean> {
    return (await rows(this.pool, 'DELETE FROM e2b_records WHERE kind = $1 AND id = $2 RETURNING id', [kind, id])).length > 0;
  }
}
