/** An app as both stores' rows hold it (SQLite keeps booleans as 0/1, PostgreSQL as booleans). */
import type { AppWithCounts } from './store.ts';

export function appFromRow(row: Record<string, unknown>): AppWithCounts {
  return {
    id: row.id as string,
    name: row.name as string,
    orgSlug: row.org_slug as string,
    network: row.network as string,
    netNumber: Number(row.net_number),
    createdAt: Number(row.created_at),
    deleting: row.deleting === true || Number(row.deleting) === 1,
    machineCount: Number(row.machine_count),
  };
}
