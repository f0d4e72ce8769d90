/**
 * The private network's hosts in PostgreSQL: each host's end (host_underlay,
 * written by that host only) with the number the database gave it. Where each app
 * has machines, hosts learn from the DNS's directory (directory.ts).
 */
import type { Pool } from 'pg';
import type { MeshDirectory, MeshHost, UnderlayEnd, UnderlayKind } from '../../domain/ports.ts';
import { rows } from './connection.ts';

export class PostgresMesh implements MeshDirectory {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  async publish(hostId: string, end: UnderlayEnd): Promise<void> {
    await rows(this.pool, `INSERT INTO host_underlay (host_id, kind, endpoint, public_key) VALUES ($1, $2, $3, $4)
      ON CONFLICT (host_id) DO UPDATE SET kind = excluded.kind, endpoint = excluded.endpoint, public_key = excluded.public_key`,
    [hostId, end.kind, end.endpoint, end.publicKey ?? null]);
  }

  async hosts(): Promise<MeshHost[]> {
    const found = await rows<{ host_id: string; number: number; kind: UnderlayKind; endpoint: string; public_key: string | null }>(this.pool,
      'SELECT u.host_id, n.number, u.kind, u.endpoint, u.public_key FROM host_underlay u JOIN host_numbers n ON n.host_id = u.host_id ORDER BY n.number');
    return found.map((row) => ({
      hostId: row.host_id, hostNumber: row.number, kind: row.kind, endpoint: row.endpoint, ...(row.public_key ? { publicKey: row.public_key } : {}),
    }));
  }
}
