/** The embedded store's volumes and their snapshots (see sqlite-store.ts). */
import { letGo, type VolumeRecord, type VolumeSnapshotRecord } from '../../domain/volume.ts';
import type { OrgVolumeQuery } from '../store.ts';
import { type Row, SqliteDatabase } from './sqlite-database.ts';

export class SqliteVolumes extends SqliteDatabase {
  async putVolume(volume: VolumeRecord): Promise<void> {
    this.transaction(() => this.sql('INSERT INTO volumes (id, app_name, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc')
      .run(volume.id, volume.appName, JSON.stringify(volume)));
  }

  async getVolume(id: string): Promise<VolumeRecord | null> {
    const row = this.sql('SELECT doc FROM volumes WHERE id = ?').get(id) as Row | undefined;
    return row ? (JSON.parse(row.doc as string) as VolumeRecord) : null;
  }

  async listVolumes(appName: string): Promise<VolumeRecord[]> {
    const rows = this.sql('SELECT doc FROM volumes WHERE app_name = ? ORDER BY id').all(appName) as Row[];
    return rows.map((row) => JSON.parse(row.doc as string) as VolumeRecord);
  }

  async listVolumesOnHost(hostId: string): Promise<VolumeRecord[]> {
    const rows = this.sql(`SELECT doc FROM volumes WHERE json_valid(doc) AND json_extract(doc, '$.hostId') = ?
      AND json_extract(doc, '$.state') <> 'destroyed' ORDER BY id`).all(hostId) as Row[];
    return rows.map((row) => JSON.parse(row.doc as string) as VolumeRecord);
  }

  async listOrgVolumes(orgSlug: string, query: OrgVolumeQuery): Promise<VolumeRecord[]> {
    const changed = "coalesce(json_extract(v.doc, '$.updatedAt'), json_extract(v.doc, '$.createdAt'))";
    const clauses = ['a.org_slug = ?'];
    const params: Array<string | number> = [orgSlug];
    if (!query.includeDeleted) clauses.push("json_extract(v.doc, '$.state') <> 'destroyed'");
    if (query.region) {
      clauses.push("json_extract(v.doc, '$.region') = ?");
      params.push(query.region);
    }
    if (query.states?.length) {
      clauses.push(`json_extract(v.doc, '$.state') IN (${query.states.map(() => '?').join(', ')})`);
      params.push(...query.states);
    }
    if (query.updatedAfter !== undefined) {
      clauses.push(`${changed} > ?`);
      params.push(query.updatedAfter);
    }
    if (query.after) {
      clauses.push(`(${changed} > ? OR (${changed} = ? AND v.id > ?))`);
      params.push(query.after.updatedAt, query.after.updatedAt, query.after.id);
    }
    params.push(query.limit);
    const rows = this.db.prepare(`SELECT v.doc FROM volumes v JOIN apps a ON a.name = v.app_name
      WHERE ${clauses.join(' AND ')} ORDER BY ${changed}, v.id LIMIT ?`).all(...params) as Row[];
    return rows.map((row) => JSON.parse(row.doc as string) as VolumeRecord);
  }

  async attachVolume(volumeId: string, machineId: string, check: (volume: VolumeRecord | null) => VolumeRecord): Promise<void> {
    this.transaction(() => {
      const row = this.sql('SELECT doc FROM volumes WHERE id = ?').get(volumeId) as Row | undefined;
      const volume = check(row ? (JSON.parse(row.doc as string) as VolumeRecord) : null);
      this.sql('UPDATE volumes SET doc = ? WHERE id = ?').run(JSON.stringify({ ...volume, attachedMachineId: machineId }), volumeId);
    });
  }

  async detachVolumes(machineId: string, keep: readonly string[] = []): Promise<void> {
    this.transaction(() => this.detach(machineId, keep));
  }

  /** Inside a transaction; each volume let go of is dated by the machine's last change (the one that let go of it). */
  protected detach(machineId: string, keep: readonly string[] = []): void {
    const volumes = (this.sql("SELECT doc FROM volumes WHERE json_extract(doc, '$.attachedMachineId') = ?").all(machineId) as Row[])
      .map((row) => JSON.parse(row.doc as string) as VolumeRecord)
      .filter((volume) => !keep.includes(volume.id));
    if (volumes.length === 0) return;
    const at = this.sql("SELECT json_extract(doc, '$.updatedAt') AS at FROM machines WHERE id = ? AND json_valid(doc)").get(machineId) as Row | undefined;
    for (const volume of volumes) this.sql('UPDATE volumes SET doc = ? WHERE id = ?').run(JSON.stringify(letGo(volume, at?.at)), volume.id);
  }

  async putSnapshot(snapshot: VolumeSnapshotRecord): Promise<void> {
    this.transaction(() => this.sql('INSERT INTO volume_snapshots (id, volume_id, expires_at, doc) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, doc = excluded.doc')
      .run(snapshot.id, snapshot.volumeId, snapshot.expiresAt, JSON.stringify(snapshot)));
  }

  async getSnapshot(id: string): Promise<VolumeSnapshotRecord | null> {
    const row = this.sql('SELECT doc FROM volume_snapshots WHERE id = ?').get(id) as Row | undefined;
    return row ? (JSON.parse(row.doc as string) as VolumeSnapshotRecord) : null;
  }

  async listSnapshots(volumeId: string): Promise<VolumeSnapshotRecord[]> {
    const rows = this.sql("SELECT doc FROM volume_snapshots WHERE volume_id = ? ORDER BY json_extract(doc, '$.createdAt'), id").all(volumeId) as Row[];
    return rows.map((row) => JSON.parse(row.doc as string) as VolumeSnapshotRecord);
  }

  async expireSnapshots(volumeId: string, expiresAt: number): Promise<void> {
    this.transaction(() => this.sql("UPDATE volume_snapshots SET expires_at = ?, doc = json_set(doc, '$.expiresAt', ?) WHERE volume_id = ?").run(expiresAt, expiresAt, volumeId));
  }

  async listExpiredSnapshots(now: number): Promise<VolumeSnapshotRecord[]> {
    const rows = this.sql('SELECT doc FROM volume_snapshots WHERE expires_at IS NOT NULL AND expires_at <= ?').all(now) as Row[];
    return rows.map((row) => JSON.parse(row.doc as string) as VolumeSnapshotRecord);
  }

  async deleteSnapshot(id: string): Promise<void> {
    this.transaction(() => this.sql('DELETE FROM volume_snapshots WHERE id = ?').run(id));
  }
}
