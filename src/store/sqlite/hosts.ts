/** The embedded store's hosts and the apps' host ports (see sqlite-store.ts). */
import type { HostRecord, HostUsage } from '../../domain/host.ts';
import type { PublicPortRecord } from '../store.ts';
import { type Row } from './sqlite-database.ts';
import { SqliteVolumes } from './volumes.ts';

export class SqliteHosts extends SqliteVolumes {
  async allocatePublicPort(appName: string, port: number, choose: (taken: ReadonlySet<number>) => number | undefined): Promise<PublicPortRecord> {
    return this.transaction(() => {
      const held = this.sql('SELECT app_name, port, host_port FROM public_ports WHERE app_name = ? AND port = ?').get(appName, port) as Row | undefined;
      if (held) return publicPort(held);
      const taken = new Set((this.sql('SELECT host_port FROM public_ports').all() as Row[]).map((r) => r.host_port as number));
      const hostPort = choose(taken);
      if (hostPort === undefined) throw new Error(`no host port left for app ${appName}, port ${port}`);
      this.sql('INSERT INTO public_ports (app_name, port, host_port) VALUES (?, ?, ?)').run(appName, port, hostPort);
      return { appName, port, hostPort };
    });
  }

  async releasePublicPort(appName: string, port: number): Promise<void> {
    this.transaction(() => this.sql('DELETE FROM public_ports WHERE app_name = ? AND port = ?').run(appName, port));
  }

  async registerHost(host: Omit<HostRecord, 'epoch' | 'cordoned'>): Promise<HostRecord> {
    return this.transaction(() => {
      const before = this.sql('SELECT doc FROM hosts WHERE id = ?').get(host.id) as Row | undefined;
      const previous = before ? (JSON.parse(before.doc as string) as HostRecord) : null;
      const record: HostRecord = { ...host, cordoned: previous?.cordoned ?? false, epoch: (previous?.epoch ?? 0) + 1 };
      this.sql('INSERT INTO hosts (id, doc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc').run(host.id, JSON.stringify(record));
      return record;
    });
  }

  async heartbeatHost(id: string, epoch: number, at: number): Promise<boolean> {
    const result = this.sql("UPDATE hosts SET doc = json_set(doc, '$.heartbeatAt', ?) WHERE id = ? AND json_extract(doc, '$.epoch') = ?").run(at, id, epoch);
    return result.changes === 1;
  }

  async setHostCordoned(id: string, cordoned: boolean): Promise<HostRecord | null> {
    this.sql("UPDATE hosts SET doc = json_set(doc, '$.cordoned', json(?)) WHERE id = ?").run(cordoned ? 'true' : 'false', id);
    const row = this.sql('SELECT doc FROM hosts WHERE id = ?').get(id) as Row | undefined;
    return row ? (JSON.parse(row.doc as string) as HostRecord) : null;
  }

  async listHostUsage(): Promise<HostUsage[]> {
    return this.hostUsage();
  }

  async getHost(id: string): Promise<HostUsage | null> {
    return this.hostUsage(id)[0] ?? null;
  }

  protected hostUsage(onlyId: string | null = null): HostUsage[] {
    const rows = this.sql(`
      SELECT h.doc, count(m.id) AS machines, coalesce(sum(m.cpus), 0) AS cpus, coalesce(sum(m.memory_mb), 0) AS memory_mb
      FROM hosts h LEFT JOIN machines m ON m.host_id = h.id AND m.state <> 'destroyed'
      WHERE ?1 IS NULL OR h.id = ?1
      GROUP BY h.id ORDER BY h.id`).all(onlyId) as Row[];
    return rows.map((row) => ({
      host: JSON.parse(row.doc as string) as HostRecord,
      machines: Number(row.machines),
      reservedCpus: Number(row.cpus),
      reservedMemoryMb: Number(row.memory_mb),
    }));
  }

  async adoptUnplacedMachines(hostId: string): Promise<number> {
    const result = this.sql("UPDATE machines SET host_id = ?, doc = json_set(doc, '$.hostId', ?) WHERE host_id IS NULL AND json_valid(doc)").run(hostId, hostId);
    return Number(result.changes);
  }
}

function publicPort(row: Row): PublicPortRecord {
  return { appName: row.app_name as string, port: row.port as number, hostPort: row.host_port as number };
}
