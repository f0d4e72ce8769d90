/** The Store contract on SQLite: a fresh database file per test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { storeContract } from '../helpers/store-contract.ts';

describe('SqliteStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-sqlite-store-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let stores = 0;

  storeContract(async () => {
    const path = join(dir, `store-${++stores}.db`);
    return {
      store: new SqliteStore(path),
      reopen: async () => new SqliteStore(path),
      async spoil(machineId, doc, recentEvents) {
        const db = new DatabaseSync(path);
        try {
          db.prepare('UPDATE machines SET doc = ?, recent_events = coalesce(?, recent_events) WHERE id = ?').run(doc, recentEvents ?? null, machineId);
        } finally {
          db.close();
        }
      },
      async spoilDoc(table, where, doc) {
        const db = new DatabaseSync(path);
        try {
          const columns = Object.keys(where);
          db.prepare(`UPDATE ${table} SET doc = ? WHERE ${columns.map((column) => `${column} = ?`).join(' AND ')}`).run(doc, ...Object.values(where));
        } finally {
          db.close();
        }
      },
    };
  });
});
