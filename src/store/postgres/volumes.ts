/**
 * The PostgreSQL store's volumes, volume snapshots and apps' public host ports. A
 * document's fields that queries use (a volume's region, state and machine, a
 * snapshot's times) are kept in columns beside it, written with it.
 */
import type { Pool } from 'pg';
import { letGo, type VolumeRecord, type VolumeSnapshotRecord } from '../../domain/volume.ts';
import type { OrgVolumeQuery, PublicPortRecord } from '../store.ts';
import { Params } from './machine-sql.ts';
import { changed, rows, type Sql, transaction } from './connection.ts';

export abstract class PostgresVolumes {
  protected readonly pool: Pool;

  protected constructor(pool: Pool) {
    this.pool = pool;
  }

  async putVolume(volume: VolumeRecord): Promise<void> {
    await changed(this.pool, `INSERT INTO volumes (id, app_name, region, state, attached_machine_id, doc) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (id) DO UPDATE SET region = excluded.region, state = excluded.state, attached_machine_id = excluded.attached_machine_id, doc = excluded.doc`,
    [volume.id, volume.appName, volume.region, volume.state, volume.attachedMachineId, JSON.stringify(volume)]);
  }

  async getVolume(id: string): Promise<VolumeRecord | null> {
    const [row] = await rows(this.pool, 'SELECT doc FROM volumes WHERE id = $1', [id]);
    return row ? (JSON.parse(row.doc as string) as VolumeRecord) : null;
  }

  async listVolumes(appName: string): Promise<VolumeRecord[]> {
    const found = await rows(this.pool, 'SELECT doc FROM volumes WHERE app_name = $1 ORDER BY id', [appName]);
    return found.map((row) => JSON.parse(row.doc as string) as VolumeRecord);
  }

  async listVolumesOnHost(hostId: string): Promise<VolumeRecord[]> {
    const found = await rows(this.pool, "SELECT doc FROM volumes WHERE state <> 'destroyed' AND doc::jsonb ->> 'hostId' = $1 ORDER BY id", [hostId]);
    return found.map((row) => JSON.parse(row.doc as string) as VolumeRecord);
  }

  async listOrgVolumes(orgSlug: string, query: OrgVolumeQuery): Promise<VolumeRecord[]> {
    const params = new Params();
    const changed = "coalesce((v.doc::jsonb ->> 'updatedAt')::double precision, (v.doc::jsonb ->> 'createdAt')::double precision)";
    const clauses = [`a.org_slug = ${params.add(orgSlug)}`];
    if (!query.includeDeleted) clauses.push("v.state <> 'destroyed'");
    if (query.region) clauses.push(`v.region = ${params.add(query.region)}`);
    if (query.states?.length) clauses.push(`v.state = ANY(${params.add(query.states)}::text[])`);
    if (query.updatedAfter !== undefined) clauses.push(`${changed} > ${params.add(query.updatedAfter)}::double precision`);
    if (query.after) clauses.push(`(${changed}, v.id) > (${params.add(query.after.updatedAt)}::double precision, ${params.add(query.after.id)}::text)`);
    const found = await rows(this.pool, `SELECT v.doc FROM volumes v JOIN apps a ON a.name = v.app_name
      WHERE ${clauses.join(' AND ')} ORDER BY ${changed}, v.id LIMIT ${params.add(query.limit)}`, params.values);
    return found.map((row) => JSON.parse(row.doc as string) as VolumeRecord);
  }

  async attachVolume(volumeId: string, machineId: string, check: (volume: VolumeRecord | null) => VolumeRecord): Promise<void> {
    await transaction(this.pool, async (db) => {
      // Locked until the end: another attach of this volume waits, then checks what this one wrote.
      const [row] = await rows(db, 'SELECT doc FROM volumes WHERE id = $1 FOR UPDATE', [volumeId]);
      const volume = check(row ? (JSON.parse(row.doc as string) as VolumeRecord) : null);
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
    return row ? (JSON.parse(row.doc as string) as VolumeSnapshotRecord) : null;
  }

  async listSnapshots(volumeId: string): Promise<VolumeSnapshotRecord[]> {
    const found = await rows(this.pool, 'SELECT doc FROM volume_snapshots WHERE volume_id = $1 ORDER BY created_at, id', [volumeId]);
    return found.map((row) => JSON.parse(row.doc as string) as VolumeSnapshotRecord);
  }

  async expireSnapshots(volumeId: string, expiresAt: number): Promise<void> {
    await transaction(this.pool, async (db) => {
      const found = await rows(db, 'SELECT doc FROM volume_snapshots WHERE volume_id = $1 FOR UPDATE', [volumeId]);
      for (const row of found) {
        const snapshot = { ...(JSON.parse(row.doc as string) as VolumeSnapshotRecord), expiresAt };
        await rows(db, 'UPDATE volume_snapshots SET expires_at = $1, doc = $2 WHERE id = $3', [expiresAt, JSON.stringify(snapshot), snapshot.id]);
      }
    });
  }

  async listExpiredSnapshots(now: number): Promise<VolumeSnapshotRecord[]> {
    const found = await rows(this.pool, 'SELECT doc FROM volume_snapshots WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, id', [now]);
    return found.map((row) => JSON.parse(row.doc as string) as VolumeSnapshotRecord);
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
  if (found.length === 0) return;
  const [machine] = await rows<{ updated_at: number }>(db, 'SELECT updated_at FROM machines WHERE id = $1', [machineId]);
  for (const row of found) {
    const volume = JSON.parse(row.doc as string) as VolumeRecord;
    await setAttached(db, volume.id, letGo(volume, machine?.updated_at));
  }
}

async function setAttached(db: Sql, id: string, volume: VolumeRecord): Promise<void> {
  await rows(db, 'UPDATE volumes SET attached_machine_id = $1, doc = $2 WHERE id = $3', [volume.attachedMachineId, JSON.stringify(volume), id]);
}

async function heldPort(db: Sql, appName: string, port: number): Promise<PublicPortRecord | undefined> {
  const [row] = await rows<{ host_port: number }>(db, 'SELECT host_port FROM public_ports WHERE app_name = $1 AND port = $2', [appName, port]);
  return row ? { appName, port, hostPort: row.host_port } : undefined;
}
