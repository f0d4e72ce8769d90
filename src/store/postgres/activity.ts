/**
 * Every host's proxy's traffic to every machine, in PostgreSQL: each host writes
 * its own rows (row-level security), every host reads all. A host that stopped
 * writing (gone, or cut off) keeps its last activity times, but its requests in
 * flight stop counting once its rows are older than the freshness asked for.
 */
import type { Pool } from 'pg';
import type { MachineActivity, ProxyActivity } from '../../domain/ports.ts';
import { rows } from './connection.ts';

export class PostgresActivity implements ProxyActivity {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  async publish(hostId: string, changed: readonly MachineActivity[], gone: readonly string[]): Promise<void> {
    if (changed.length > 0) {
      await rows(this.pool, `INSERT INTO proxy_activity (host_id, machine_id, in_flight, last_active)
        SELECT $1, * FROM unnest($2::text[], $3::integer[], $4::double precision[])
        ON CONFLICT (host_id, machine_id) DO UPDATE SET in_flight = EXCLUDED.in_flight, last_active = EXCLUDED.last_active, updated_at = now()`,
      [hostId, changed.map((a) => a.machineId), changed.map((a) => a.inFlight), changed.map((a) => a.lastActive)]);
    }
    if (gone.length > 0) await rows(this.pool, 'DELETE FROM proxy_activity WHERE host_id = $1 AND machine_id = ANY($2::text[])', [hostId, gone]);
  }

  async others(hostId: string, freshMs: number): Promise<MachineActivity[]> {
    const found = await rows<{ machine_id: string; in_flight: number; last_active: number }>(this.pool,
      `SELECT machine_id, sum(CASE WHEN updated_at > now() - make_interval(secs => $2::double precision / 1000) THEN in_flight ELSE 0 END)::integer AS in_flight,
        max(last_active) AS last_active
      FROM proxy_activity WHERE host_id <> $1 GROUP BY machine_id`, [hostId, freshMs]);
    return found.map((row) => ({ machineId: row.machine_id, inFlight: Number(row.in_flight), lastActive: Number(row.last_active) }));
  }
}
