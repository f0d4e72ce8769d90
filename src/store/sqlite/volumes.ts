/**
 * The embedded store's volumes and their snapshots (see sqlite-store.ts). A row
 * whose document is not the record it should be is skipped by every read; SQL that
 * looks into documents looks only into those that are JSON (`json_valid`).
 */
import { letGo, type VolumeRecord, type VolumeSnapshotRecord, volumeLimitMessage } from '../../domain/volume.ts';
import { readablePage, snapshotDocs, volumeDocs } from '../documents.ts';
import type { OrgVolumeQuery } from '../store.ts';
import { AppGoneError, LimitError } from '../errors.ts';
import { SqliteSecrets } from './secrets.ts';
import type { Row } from './sqlite-database.ts';

/** A volume's document where it is JSON, else NULL: what SQL looks into (`json_extract` of a NULL is NULL, never an error). */
const DOC = '(CASE WHEN json_valid(v.doc) THEN v.doc END)';

export class SqliteVolumes extends SqliteSecrets {
  async putVolume(volume: VolumeRecord): Promise<void> {
    this.transaction(() => this.sql('INSERT INTO volumes (id, app_name, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc')
      .run(volume.id, volume.appName, JSON.stringify(volume)));
  }

  async insertVolume(volume: VolumeRecord, maxLive: number): Promise<void> {
    // The transaction holds the database: no other insert counts until this one is in.
    this.transaction(() => {
      const app = this.sql('SELECT deleting FROM apps WHERE name = ?').get(volume.appName) as { deleting: number } | undefined;
      if (!app) throw new AppGoneError(volume.appName, 'missing');
      if (app.deleting) throw new AppGoneError(volume.appName, 'deleting');
      // Counting stops at the limit; a row that holds no volume (no state) counts: it may stand for a file.
      const live = this.sql(`SELECT count(*) AS n FROM (SELECT 1 FROM volumes v WHERE v.app_name = ?
        AND json_extract(${DOC}, '$.state') IS NOT 'destroyed' LIMIT ?)`).get(volume.appName, maxLive) as { n: number };
      if (live.n >= maxLive) throw new LimitError(volumeLimitMessage(live.n, maxLive, volume.appName));
      this.sql('INSERT INTO volumes (id, app_name, doc) VALUES (?, ?, ?)').run(volume.id, volume.appName, JSON.stringify(volume));
    });
  }

  async finishVolume(id: string, made: VolumeRecord | null): Promise<boolean> {
    return this.transaction(() => {
      const row = this.sql('SELECT doc FROM volumes WHERE id = ?').get(id) as Row | undefined;
      if (!row || volumeDocs.read(row.doc)?.state !== 'creating') return false;
      if (made) this.sql('UPDATE volumes SET doc = ? WHERE id = ?').run(JSON.stringify(made), id);
      else this.sql('DELETE FROM volumes WHERE id = ?').run(id);
      return true;
    });
  }

  async getVolume(id: string): Promise<VolumeRecord | null> {
    const row = this.sql('SELECT doc FROM volumes WHERE id = ?').get(id) as Row | undefined;
    return row ? volumeDocs.read(row.doc) : null;
  }

  async listVolumes(appName: string): Promise<VolumeRecord[]> {
    return volumeDocs.all(this.sql('SELECT doc FROM volumes WHERE app_name = ? ORDER BY id').all(appName) as Row[]);
  }

  async listVolumesOnHost(hostId: string): Promise<VolumeRecord[]> {
    const rows = this.sql(`SELECT v.doc FROM volumes v WHERE json_extract(${DOC}, '$.hostId') = ?
      AND json_extract(${DOC}, '$.state') <> 'destroyed' ORDER BY v.id`).all(hostId) as Row[];
    return volumeDocs.all(rows);
  }

  async listOrgVolumes(orgSlug: string, query: OrgVolumeQuery): Promise<Array<{ volume: VolumeRecord; at: string }>> {
    if (query.after && !/^\d{1,15}$/.test(query.after.at)) return [];
    const changed = `coalesce(json_extract(${DOC}, '$.updatedAt'), json_extract(${DOC}, '$.createdAt'))`;
    const clauses = ['a.org_slug = ?', `${changed} IS NOT NULL`];
    const params: Array<string | number> = [orgSlug];
    // A volume being created is no one's to see yet.
    clauses.push(`json_extract(${DOC}, '$.state') <> 'creating'`);
    if (!query.includeDeleted) clauses.push(`json_extract(${DOC}, '$.state') <> 'destroyed'`);
    if (query.region) {
      clauses.push(`json_extract(${DOC}, '$.region') = ?`);
      params.push(query.region);
    }
    if (query.states?.length) {
      clauses.push(`json_extract(${DOC}, '$.state') IN (${query.states.map(() => '?').join(', ')})`);
      params.push(...query.states);
    }
    if (query.updatedAfter !== undefined) {
      clauses.push(`${changed} > ?`);
      params.push(query.updatedAfter);
    }
    // Pages of rows after the cursor, until `limit` of them hold volumes (see readablePage).
    const page = (after: Row | undefined, limit: number): Row[] => {
      const seq = after ? Number(after.change_seq) : query.after && Number(query.after.at);
      const where = seq === undefined ? clauses : [...clauses, 'v.change_seq > ?'];
      const values = seq === undefined ? params : [...params, seq];
      return this.db.prepare(`SELECT v.id, v.doc, v.change_seq FROM volumes v JOIN apps a ON a.name = v.app_name
        WHERE ${where.join(' AND ')} ORDER BY v.change_seq LIMIT ?`).all(...values, limit) as Row[];
    };
    return readablePage(query.limit, page, (row) => {
      const volume = volumeDocs.read(row.doc);
      return volume && { volume, at: String(row.change_seq) };
    });
  }

  async attachVolume(volumeId: string, machineId: string, check: (volume: VolumeRecord | null) => VolumeRecord): Promise<void> {
    this.transaction(() => {
      const row = this.sql('SELECT doc FROM volumes WHERE id = ?').get(volumeId) as Row | undefined;
      // A row that holds no volume is checked as no volume (and left as it is).
      const volume = check(row ? volumeDocs.read(row.doc) : null);
      this.sql('UPDATE volumes SET doc = ? WHERE id = ?').run(JSON.stringify({ ...volume, attachedMachineId: machineId }), volumeId);
    });
  }

  async detachVolumes(machineId: string, keep: readonly string[] = []): Promise<void> {
    this.transaction(() => this.detach(machineId, keep));
  }

  /** Inside a transaction; each volume let go of is dated by the machine's last change (the one that let go of it). */
  protected detach(machineId: string, keep: readonly string[] = []): void {
    const volumes = volumeDocs.all(this.sql(`SELECT v.doc FROM volumes v WHERE json_extract(${DOC}, '$.attachedMachineId') = ?`).all(machineId) as Row[])
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
    return row ? snapshotDocs.read(row.doc) : null;
  }

  async listSnapshots(volumeId: string): Promise<VolumeSnapshotRecord[]> {
    const rows = this.sql(`SELECT doc FROM volume_snapshots WHERE volume_id = ?
      ORDER BY (CASE WHEN json_valid(doc) THEN json_extract(doc, '$.createdAt') END), id`).all(volumeId) as Row[];
    return snapshotDocs.all(rows);
  }

  async expireSnapshots(volumeId: string, expiresAt: number): Promise<void> {
    // A row that holds no snapshot is left as it is.
    this.transaction(() => this.sql("UPDATE volume_snapshots SET expires_at = ?, doc = json_set(doc, '$.expiresAt', ?) WHERE volume_id = ? AND json_valid(doc)")
      .run(expiresAt, expiresAt, volumeId));
  }

  async listExpiredSnapshots(now: number): Promise<VolumeSnapshotRecord[]> {
    return snapshotDocs.all(this.sql('SELECT doc FROM volume_snapshots WHERE expires_at IS NOT NULL AND expires_at <= ?').all(now) as Row[]);
  }

  async deleteSnapshot(id: string): Promise<void> {
    this.transaction(() => this.sql('DELETE FROM volume_snapshots WHERE id = ?').run(id));
  }
}
