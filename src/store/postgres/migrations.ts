/**
 * The PostgreSQL schema, as migrations applied in order at open; `hangar_migrations`
 * records which ran. Opening runs them in one transaction under an advisory lock, so
 * several hangars opening one database at once apply each migration once.
 *
 * Documents are `text` holding the JSON hangar wrote, byte for byte as in SQLite:
 * `jsonb` would refuse a string holding U+0000 (which configs and metadata may hold)
 * and reorder the keys of users' maps (`env`, `metadata`). The columns beside them
 * are what queries filter and sort by; they use the "C" collation so that orders are
 * by code point, as SQLite's, whatever the database's locale.
 *
 * The list is kept in files by what the migrations concern, in the order they run
 * (schema-machines.ts, schema-hosts.ts, schema-network.ts, schema-apps.ts,
 * schema-plans.ts, schema-images.ts). A migration that may have run anywhere is
 * never edited: a change is a new one at the end of the last file.
 */
import { rows, type Sql, transaction, type Connector } from './connection.ts';

import { APP_MIGRATIONS } from './schema-apps.ts';
import { HOST_MIGRATIONS } from './schema-hosts.ts';
import { IMAGE_MIGRATIONS } from './schema-images.ts';
import { MACHINE_MIGRATIONS } from './schema-machines.ts';
import { NETWORK_MIGRATIONS } from './schema-network.ts';
import { PLAN_MIGRATIONS } from './schema-plans.ts';

export const MIGRATIONS: readonly string[] = [...MACHINE_MIGRATIONS, ...HOST_MIGRATIONS, ...NETWORK_MIGRATIONS, ...APP_MIGRATIONS, ...PLAN_MIGRATIONS, ...IMAGE_MIGRATIONS];

/** Any constant works, as long as every hangar uses the same: "hangar" in ASCII. */
const MIGRATION_LOCK = 0x68616e676172;

/**
 * Brings the schema up to date: the migrations not yet recorded, in one transaction.
 * Refuses a database that a newer hangar has migrated past what this one knows.
 */
export async function migrate(pool: Connector, migrations: readonly string[] = MIGRATIONS): Promise<number> {
  // Up to date: nothing to lock or create (a host's own role may not).
  const current = await transaction(pool, async (db) => {
    const [known] = await rows<{ known: boolean }>(db, "SELECT to_regclass('hangar_migrations') IS NOT NULL AS known");
    if (!known?.known) return 0;
    const [row] = await rows<{ version: number | null }>(db, 'SELECT max(version) AS version FROM hangar_migrations');
    return row?.version ?? 0;
  });
  if (current === migrations.length) return 0;
  return transaction(pool, async (db: Sql) => {
    // Held until the transaction ends: another hangar opening now waits, then finds the work done.
    await rows(db, 'SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await rows(db, 'CREATE TABLE IF NOT EXISTS hangar_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const [row] = await rows<{ version: number | null }>(db, 'SELECT max(version) AS version FROM hangar_migrations');
    const applied = row?.version ?? 0;
    if (applied > migrations.length) {
      throw new Error(`the database's schema is at version ${applied}, newer than this hangar knows (${migrations.length}): run a newer hangar`);
    }
    for (let version = applied + 1; version <= migrations.length; version++) {
      await rows(db, migrations[version - 1] as string);
      await rows(db, 'INSERT INTO hangar_migrations (version) VALUES ($1)', [version]);
    }
    return migrations.length - applied;
  });
}
