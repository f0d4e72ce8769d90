/** The embedded store's E2B records (see store/e2b-records.ts). */
import { type E2bKind, parseE2bDoc } from '../e2b-records.ts';
import { DuplicateError } from '../errors.ts';
import { type Row, SqliteDatabase } from './sqlite-database.ts';

export class SqliteE2b extends SqliteDatabase {
  async insertE2bRecord(kind: E2bKind, id: string, doc: unknown): Promise<void> {
    const inserted = this.sql('INSERT INTO e2b_records (kind, id, doc) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(kind, id, JSON.stringify(doc));
    if (inserted.changes === 0) throw new DuplicateError(kind, `${kind} "${id}" already exists`);
  }

  async getE2bRecord(kind: E2bKind, id: string): Promise<unknown> {
    const row = this.sql('SELECT doc FROM e2b_records WHERE kind = ? AND id = ?').get(kind, id) as Row | undefined;
    return row ? parseE2bDoc(String(row.doc)) : undefined;
  }

  async listE2bRecords(kind: E2bKind): Promise<unknown[]> {
    return (this.sql('SELECT doc FROM e2b_records WHERE kind = ? ORDER BY id').all(kind) as Row[]).map((row) => parseE2bDoc(String(row.doc)));
  }

  async deleteE2bRecord(kind: E2bKind, id: string): Promise<boolean> {
    return this.sql('DELETE FROM e2b_records WHERE kind = ? AND id = ?').run(kind, id).changes > 0;
  }
}
