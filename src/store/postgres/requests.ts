/**
 * Requests for machines on other hosts, in PostgreSQL: asked through a function
 * any host may call (it queues the request for the machine's host and hints it),
 * taken by the machine's own host (row-level security: its own only).
 */
import type { Pool } from 'pg';
import type { MachineRequest, MachineRequests, RequestedAction } from '../../domain/ports.ts';
import { rows } from './connection.ts';

const ACTIONS: readonly string[] = ['start', 'stop', 'suspend'] satisfies RequestedAction[];

export class PostgresRequests implements MachineRequests {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  async ask(machineId: string, action: RequestedAction): Promise<string | undefined> {
    const [row] = await rows<{ host: string | null }>(this.pool, 'SELECT hangar_request_action($1, $2) AS host', [machineId, action]);
    return row?.host ?? undefined;
  }

  async take(hostId: string): Promise<MachineRequest[]> {
    const taken = await rows<{ machine_id: string; app_name: string; action: string }>(this.pool,
      'DELETE FROM machine_requests WHERE host_id = $1 RETURNING machine_id, app_name, action', [hostId]);
    return taken.filter((row) => ACTIONS.includes(row.action))
      .map((row) => ({ machineId: row.machine_id, appName: row.app_name, action: row.action as RequestedAction }));
  }
}
