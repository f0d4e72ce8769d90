/**
 * The health check results a cluster's hosts record for their machines. A host
 * replaces a machine's results whenever one changes; a replica reads them for
 * the machines it shows, and only while they are `started`: what a stopped
 * machine's checks last said is not what they say now.
 */
import type { Pool } from 'pg';
import type { CheckRecords, CheckReport } from '../../domain/ports.ts';
import { changed, rows } from './connection.ts';

/** Fly's status words: a row with another (a host wrote what no hangar writes) is not shown. */
const STATUSES = new Set(['passing', 'warning', 'critical']);

interface CheckRow {
  machine_id: string;
  name: string;
  status: string;
  output: string;
  updated_at: number;
}

export class PostgresChecks implements CheckRecords {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  async putChecks(machineId: string, checks: readonly CheckReport[]): Promise<void> {
    // PostgreSQL's text holds no U+0000, which an output may (it quotes what a check met).
    const incoming = checks.map((check) => ({ ...check, output: check.output.replaceAll('\0', '') }));
    await changed(this.pool, `WITH incoming AS (
        SELECT * FROM jsonb_to_recordset($2::jsonb) AS c (name text, status text, output text, "updatedAt" double precision)
      ), put AS (
        INSERT INTO machine_checks (machine_id, name, status, output, updated_at)
        SELECT $1, name, status, output, "updatedAt" FROM incoming
        ON CONFLICT (machine_id, name) DO UPDATE SET status = excluded.status, output = excluded.output, updated_at = excluded.updated_at
      )
      DELETE FROM machine_checks WHERE machine_id = $1 AND name NOT IN (SELECT name FROM incoming)`,
    [machineId, JSON.stringify(incoming)]);
  }

  async checksOf(machineIds: readonly string[]): Promise<Map<string, CheckReport[]>> {
    const found = new Map<string, CheckReport[]>();
    if (machineIds.length === 0) return found;
    const read = await rows<CheckRow>(this.pool, `SELECT c.machine_id, c.name, c.status, c.output, c.updated_at FROM machine_checks c
      JOIN machines m ON m.id = c.machine_id AND m.state = 'started'
      WHERE c.machine_id = ANY($1::text[]) ORDER BY c.machine_id, c.name`, [machineIds]);
    for (const row of read) {
      const updatedAt = Number(row.updated_at);
      if (!STATUSES.has(row.status) || Number.isNaN(new Date(updatedAt).getTime())) continue;
      const checks = found.get(row.machine_id) ?? [];
      checks.push({ name: row.name, status: row.status, output: row.output, updatedAt });
      found.set(row.machine_id, checks);
    }
    return found;
  }
}
