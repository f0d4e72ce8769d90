/**
 * Every host's machines for the private DNS, in PostgreSQL: read through functions
 * a host may call though it may not read other hosts' machines, in the commit order
 * (see changes.ts). A row's fields are checked as they come: one that is not what a
 * machine's would be is left out, since a host writes its own machines' rows.
 */
import { isIP } from 'node:net';
import type { Pool } from 'pg';
import type { DirectoryMachine, MachineDirectory } from '../../domain/ports.ts';
import { rows } from './connection.ts';

interface Row {
  id: string | null;
  app_name: string;
  region: string;
  host_id: string | null;
  state: string;
  private_ip: string | null;
  skip: boolean;
  process_group: string | null;
  horizon: string;
}

export class PostgresDirectory implements MachineDirectory {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  async horizon(): Promise<string> {
    const [row] = await rows<{ horizon: string }>(this.pool, 'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon');
    return row?.horizon ?? '0';
  }

  async since(from?: string): Promise<{ items: DirectoryMachine[]; horizon: string }> {
    const found = await rows<Row>(this.pool, 'SELECT * FROM hangar_directory_since($1::xid8)', [from ?? null]);
    return { items: found.flatMap((row) => directoryMachine(row) ?? []), horizon: found[0]?.horizon ?? from ?? '0' };
  }

  async apps(): Promise<Array<{ name: string; orgSlug: string }>> {
    return (await rows<{ name: string; org_slug: string }>(this.pool, 'SELECT name, org_slug FROM hangar_directory_apps()'))
      .map((row) => ({ name: row.name, orgSlug: row.org_slug }));
  }
}

function directoryMachine(row: Row): DirectoryMachine | undefined {
  if (row.id === null || row.host_id === null || row.private_ip === null || isIP(row.private_ip) !== 6) return undefined;
  return {
    id: row.id, appName: row.app_name, region: row.region, hostId: row.host_id, privateIp: row.private_ip, state: row.state, skipRegistration: row.skip,
    ...(row.process_group ? { processGroup: row.process_group } : {}),
  };
}
