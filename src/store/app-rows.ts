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
    ...(row.machine_states !== undefined ? { machineStates: stateCounts(row.machine_states) } : {}),
  };
}

/** Counts by state as a row holds them (JSON text, or an object from PostgreSQL); anything else reads as none. */
function stateCounts(value: unknown): Record<string, number> {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return {};
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  return Object.fromEntries(Object.entries(parsed).filter(([, n]) => typeof n === 'number' || typeof n === 'string').map(([state, n]) => [state, Number(n)]));
}
