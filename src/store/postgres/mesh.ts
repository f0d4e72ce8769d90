/**
 * The private network's directory in PostgreSQL: each host's end (host_underlay,
 * written by that host only) and where each app has machines (a function, since a
 * host may not read other hosts' machines: it learns app and host numbers, nothing else).
 */
import type { Pool } from 'pg';
import type { MeshDirectory, MeshHost, MeshSpan, UnderlayEnd, UnderlayKind } from '../../domain/ports.ts';
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

  async read(): Promise<{ hosts: MeshHost[]; spans: MeshSpan[] }> {
    const [hosts, spans] = await Promise.all([
      rows<{ host_id: string; number: number; kind: UnderlayKind; endpoint: string; public_key: string | null }>(this.pool,
        'SELECT u.host_id, n.number, u.kind, u.endpoint, u.public_key FROM host_underlay u JOIN host_numbers n ON n.host_id = u.host_id ORDER BY n.number'),
      rows<{ host_number: number; net_number: number }>(this.pool, 'SELECT host_number, net_number FROM hangar_network_spans() ORDER BY 1, 2'),
    ]);
    return {
      hosts: hosts.map((row) => ({
        hostId: row.host_id, hostNumber: row.number, kind: row.kind, endpoint: row.endpoint, ...(row.public_key ? { publicKey: row.public_key } : {}),
      })),
      spans: spans.map((row) => ({ hostNumber: row.host_number, netNumber: row.net_number })),
    };
  }
}
