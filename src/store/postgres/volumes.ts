/**
 * The PostgreSQL store's volumes, volume snapshots and apps' public host ports. A
 * document's fields that queries use (a volume's region, state, machine, host and
 * last change, a snapshot's times) are kept in columns beside it, written with it:
 * no query casts a document, and a row whose document is not the record it should
 * be is skipped by every read.
 */
import type { Pool } from 'pg';
import { letGo, volumeLimitMessage, type VolumeRecord, type VolumeSnapshotRecord, volumeUpdatedAt } from '../../domain/volume.ts';
import { readablePage, snapshotDocs, volumeDocs } from '../documents.ts';
import type { OrgVolumeQuery, PublicPortRecord } from '../store.ts';
import { AppGoneError, LimitError } from '../errors.ts';
import { Params } from './machine-sql.ts';
import { changed, rows, type Sql, transaction } from './connection.ts';
import { PostgresSecrets } from './secrets.ts';

export abstract class PostgresVolumes extends PostgresSecrets {
  protected constructor(pool: Pool) {
    super(pool);
  }

  async putVolume(volume: VolumeRecord): Promise<void> {
    await changed(this.pool, `INSERT INTO volumes (id, app_name, ${VOLUME_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (id) DO UPDATE SET ${VOLUME_COLUMNS.map((column) => `${column} = excluded.${column}`).join(', ')}`,
    [volume.id, volume.appName, ...volumeColumns(volume)]);
  }

  async insertVolume(volume: VolumeRecord, maxLive: number): Promise<void> {
    await transaction(this.pool, async (db) => {
      // A share lock on the app: its deletion waits for this insert, other inserts do not.
      const [app] = await rows<{ deleting: boolean }>(db, 'SELECT deleting FROM apps WHERE name = $1 FOR SHARE', [volume.appName]);
      if (!app) throw new AppGoneError(volume.appName, 'missing');
      if (app.deleting) throw new AppGoneError(volume.appName, 'deleting');
      // The app's volume inserts take turns from here to their commit: each counts those before it.
      await rows(db, 'SELECT pg_advisory_xact_lock(hashtext($1))', [`hangar-app-volumes:${volume.appName}`]);
      const [live] = await rows<{ n: number }>(db,
        "SELECT count(*)::integer AS n FROM (SELECT 1 FROM volumes WHERE app_name = $1 AND state <> 'destroyed' LIMIT $2) live", [volume.appName, maxLive]);
      const n = live?.n ?? 0;
      if (n >= maxLive) throw new LimitError(volumeLimitMessage(n, maxLive, volume.appName));
      await rows(db, `INSERT INTO volumes (id, app_name, ${VOLUME_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [volume.id, volume.appName, ...volumeColumns(volume)]);
    });
  }

  async finishVolume(id: string, made: VolumeRecord | null): Promise<boolean> {
    if (!made) return await changed(this.pool, "DELETE FROM volumes WHERE id = $1 AND state = 'creating'", [id]) === 1;
    return await changed(this.pool, `UPDATE volumes SET ${VOLUME_COLUMNS.map((column, i) => `${column} = $${i + 2}`).join(', ')}
      WHERE id = $1 AND state = 'creating'`, [id, ...volumeColumns(made)]) === 1;
  }

  async getVolume(id: string): Promise<VolumeRecord | null> {
    const [row] = await rows(this.pool, 'SELECT doc FROM volumes WHERE id = $1', [id]);
    return row ? volumeDocs.read(row.doc) : null;
  }

  async listVolumes(appName: string): Promise<VolumeRecord[]> {
    return volumeDocs.all(await rows(this.pool, 'SELECT doc FROM volumes WHERE app_name = $1 ORDER BY id', [appName]));
  }

  async listVolumesOnHost(hostId: string): Promise<VolumeRecord[]> {
    return volumeDocs.all(await rows(this.pool, "SELECT doc FROM volumes WHERE state <> 'destroyed' AND host_id = $1 ORDER BY id", [hostId]));
  }

  async listOrgVolumes(orgSlug: string, query: OrgVolumeQuery): Promise<Array<{ volume: VolumeRecord; at: string }>> {
    if (query.after && !/^\d{1,20}$/.test(query.after.at)) return [];
    // Pages of rows after the cursor, until `limit` of them hold volumes (see readablePage).
    const page = async (after: Record<string, unknown> | undefined, limit: number) => {
      const params = new Params();
      // A volume being created is no one's to see yet. Below the oldest transaction still
      // running: what a transaction in flight commits lands after every row read.
      const clauses = [`a.org_slug = ${params.add(orgSlug)}`, 'v.changed_at IS NOT NULL', "v.state <> 'creating'",
        'v.change_xid < pg_snapshot_xmin(pg_current_snapshot())'];
      if (!query.includeDeleted) clauses.push("v.state <> 'destroyed'");
      if (query.region) clauses.push(`v.region = ${params.add(query.region)}`);
      if (query.states?.length) clauses.push(`v.state = ANY(${params.add(query.states)}::text[])`);
      if (query.updatedAfter !== undefined) clauses.push(`v.changed_at > ${params.add(query.updatedAfter)}::double precision`);
      const cursor = after ?? query.after;
      if (cursor) clauses.push(`(v.change_xid, v.id) > (${params.add(cursor.at)}::xid8, ${params.add(cursor.id)}::text)`);
      return rows(this.pool, `SELECT v.id, v.change_xid::text AS at, v.doc FROM volumes v JOIN apps a ON a.name = v.app_name
        WHERE ${clauses.join(' AND ')} ORDER BY v.change_xid, v.id LIMIT ${params.add(limit)}`, params.values);
    };
    return readablePage(query.limit, page, (row) => {
      const volume = volumeDocs.read(row.doc);
      return volume && { volume, at: row.at as string };
    });
  }

  async attachVolume(volumeId: string, machineId: string, check: (volume: VolumeRecord | null) => VolumeRecord): Promise<void> {
    await transaction(this.pool, async (db) => {
      // Locked until the end: another attach of this volume waits, then checks what this one wrote.
      const [row] = await rows(db, 'SELECT doc FROM volumes WHERE id = $1 FOR UPDATE', [volumeId]);
      // A row that holds no volume is checked as no volume (and left as it is).
      const volume = check(row ? volumeDocs.read(row.doc) : null);
      await setAttached(db, volumeId, { ...volume, attachedMachineId: machineId });
    });
  }

  async detachVolumes(machineId: string, keep: readonly string[] = []): Promise<void> {
    await transaction(this.pool, (db) => detachAll(db, machineId, keep));
  }

  async putSnapshot(snapshot: VolumeSnapshotRecord): Promise<void> {
    await changed(this.pool, `INSERT INTO volume_snapshots (id, volume_id, created_at, expires_at, doc) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, doc = excluded.doc`,
    [snapshot.id, snapshot.volumeId, snapshot.createdAt, snapshot.expiresAt, JSON.stringify(snapshot)]);
  }

  async getSnapshot(id: string): Promise<VolumeSnapshotRecord | null> {
    const [row] = await rows(this.pool, 'SELECT doc FROM volume_snapshots WHERE id = $1', [id]);
    return row ? snapshotDocs.read(row.doc) : null;
  }

  async listSnapshots(volumeId: string): Promise<VolumeSnapshotRecord[]> {
    return snapshotDocs.all(await rows(this.pool, 'SELECT doc FROM volume_snapshots WHERE volume_id = $1 ORDER BY created_at, id', [volumeId]));
  }

  async expireSnapshots(volumeId: string, expiresAt: number): Promise<void> {
    await transaction(this.pool, async (db) => {
      const found = await rows(db, 'SELECT id, doc FROM volume_snapshots WHERE volume_id = $1 FOR UPDATE', [volumeId]);
      for (const row of found) {
        // A row that holds no snapshot is left as it is.
        const snapshot = snapshotDocs.read(row.doc);
        if (!snapshot) continue;
        await rows(db, 'UPDATE volume_snapshots SET expires_at = $1, doc = $2 WHERE id = $3', [expiresAt, JSON.stringify({ ...snapshot, expiresAt }), row.id]);
      }
    });
  }

  async listExpiredSnapshots(now: number): Promise<VolumeSnapshotRecord[]> {
    return snapshotDocs.all(await rows(this.pool, 'SELECT doc FROM volume_snapshots WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, id', [now]));
  }

  async deleteSnapshot(id: string): Promise<void> {
    await changed(this.pool, 'DELETE FROM volume_snapshots WHERE id = $1', [id]);
  }

  async allocatePublicPort(appName: string, port: number, choose: (taken: ReadonlySet<number>) => number | undefined): Promise<PublicPortRecord> {
    // Most calls find the port the app already has: no lock for those.
    const held = await heldPort(this.pool, appName, port);
    if (held) return held;
    return transaction(this.pool, async (db) => {
      // Writers of the table wait (readers do not), so no two hangars choose the same free port.
      await rows(db, 'LOCK TABLE public_ports IN EXCLUSIVE MODE');
      const now = await heldPort(db, appName, port);
      if (now) return now;
      const taken = new Set((await rows<{ host_port: number }>(db, 'SELECT host_port FROM public_ports')).map((row) => row.host_port));
      const hostPort = choose(taken);
      if (hostPort === undefined) throw new Error(`no host port left for app ${appName}, port ${port}`);
      await rows(db, 'INSERT INTO public_ports (app_name, port, host_port) VALUES ($1, $2, $3)', [appName, port, hostPort]);
      return { appName, port, hostPort };
    });
  }

  async releasePublicPort(appName: string, port: number): Promise<void> {
    await changed(this.pool, 'DELETE FROM public_ports WHERE app_name = $1 AND port = $2', [appName, port]);
  }
}

/**
 * Detaches every volume attached to `machineId` but those in `keep`, in the
 * transaction of `db`; each is dated by the machine's last change (the one that
 * let go of it).
 */
export async function detachAll(db: Sql, machineId: string, keep: readonly string[] = []): Promise<void> {
  const found = await rows(db, 'SELECT doc FROM volumes WHERE attached_machine_id = $1 AND NOT (id = ANY($2::text[])) FOR UPDATE', [machineId, keep]);
  // A row that holds no volume is left as it is.
  const volumes = volumeDocs.all(found);
  if (volumes.length === 0) return;
  const [machine] = await rows<{ updated_at: number }>(db, 'SELECT updated_at FROM machines WHERE id = $1', [machineId]);
  for (const volume of volumes) await setAttached(db, volume.id, letGo(volume, machine?.updated_at));
}

/** The columns a volume's row holds beside its id and app, in the order of VOLUME_COLUMNS. */
function volumeColumns(volume: VolumeRecord): unknown[] {
  return [volume.region, volume.state, volume.attachedMachineId, volume.hostId ?? null, volumeUpdatedAt(volume), JSON.stringify(volume)];
}

const VOLUME_COLUMNS = ['region', 'state', 'attached_machine_id', 'host_id', 'changed_at', 'doc'] as const;

async function setAttached(db: Sql, id: string, volume: VolumeRecord): Promise<void> {
  await rows(db, 'UPDATE volumes SET attached_machine_id = $1, changed_at = $2, doc = $3 WHERE id = $4',
    [volume.attachedMachineId, volumeUpdatedAt(volume), JSON.stringify(volume), id]);
}

async function heldPort(db: Sql, appName: string, port: number): Promise<PublicPortRecord | undefined> {
  const [row] = await rows<{ host_port: number }>(db, 'SELECT host_port FROM public_ports WHERE app_name = $1 AND port = $2', [appName, port]);
  return row ? { appName, port, hostPort: row.host_port } : undefined;
}
