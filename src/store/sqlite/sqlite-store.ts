/**
 * The embedded store: SQLite through `node:sqlite`, in WAL mode with full sync, so
 * an acknowledged write survives a SIGKILL of the server (and a host crash).
 * Each machine's record is one JSON document beside the columns it is queried by.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { App, MachineEvent, MachineRecord, MachineVersion } from '../../domain/machine.ts';
import { type HostRecord, type HostUsage, reservationOf } from '../../domain/host.ts';
import type { VolumeRecord, VolumeSnapshotRecord } from '../../domain/volume.ts';
import {
  AppGoneError, type AppWithCounts, DuplicateError, fencedOut, type HostFence, type MachineFilter, type MachineListing, type MachineWrite, type OrgMachineQuery,
  LimitError, LiveMachinesError, type Placer, type PublicPortRecord, StaleWriteError, StorageError, type Store,
} from '../store.ts';
import { appFromRow } from '../app-rows.ts';
import { listingsIn, machineDocProblem, machinesIn, readEventsDoc, readMachineDoc } from '../documents.ts';
import { MIGRATIONS } from './migrations.ts';

/** How many of a machine's newest events ride along with it in listings. */
const RECENT_EVENTS = 10;

type Row = Record<string, unknown>;

export class SqliteStore implements Store {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
    this.migrate();
  }

  private migrate(): void {
    const row = this.db.prepare('PRAGMA user_version').get() as { user_version: number };
    for (let i = row.user_version; i < MIGRATIONS.length; i++) {
      this.transaction(() => {
        this.db.exec(MIGRATIONS[i] as string);
        this.db.exec(`PRAGMA user_version = ${i + 1}`);
      });
    }
  }

  private sql(text: string): StatementSync {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  private transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      // After some errors (a full disk, an I/O error) SQLite has rolled back already and
      // ROLLBACK itself fails; the error that matters is the first one.
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw storageError(error) ?? error;
    }
  }

  private nextCounter(name: string): number {
    const row = this.sql(
      'INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value',
    ).get(name) as { value: number };
    return row.value;
  }

  async createApp(app: Omit<App, 'netNumber' | 'deleting'>): Promise<App> {
    return this.transaction(() => {
      if (this.sql('SELECT 1 FROM apps WHERE name = ?').get(app.name)) {
        throw new DuplicateError('app', `app name "${app.name}" is already taken`);
      }
      const netNumber = this.nextCounter('app_net');
      this.sql('INSERT INTO apps (name, id, org_slug, network, net_number, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(app.name, app.id, app.orgSlug, app.network, netNumber, app.createdAt);
      return { ...app, netNumber, deleting: false };
    });
  }

  async getApp(name: string): Promise<App | null> {
    const row = this.sql('SELECT a.*, 0 AS machine_count FROM apps a WHERE a.name = ?').get(name) as Row | undefined;
    if (!row) return null;
    const { machineCount: _count, ...app } = appFromRow(row);
    return app;
  }

  async getAppWithCounts(name: string): Promise<AppWithCounts | null> {
    const row = this.sql(`${APP_SELECT} WHERE a.name = ?`).get(name) as Row | undefined;
    return row ? appFromRow(row) : null;
  }

  async listApps(orgSlug?: string): Promise<AppWithCounts[]> {
    const rows = orgSlug
      ? this.sql(`${APP_SELECT} WHERE a.org_slug = ? ORDER BY a.name`).all(orgSlug)
      : this.sql(`${APP_SELECT} ORDER BY a.name`).all();
    return (rows as Row[]).map(appFromRow);
  }

  async markAppDeleting(name: string): Promise<App | null> {
    this.sql('UPDATE apps SET deleting = 1 WHERE name = ?').run(name);
    return this.getApp(name);
  }

  async deleteApp(name: string): Promise<void> {
    this.transaction(() => {
      const live = this.sql("SELECT id FROM machines WHERE app_name = ? AND state NOT IN ('destroyed', 'replaced', 'migrated')").all(name) as Row[];
      if (live.length > 0) throw new LiveMachinesError(name, live.map((row) => row.id as string));
      const ids = (this.sql('SELECT id FROM machines WHERE app_name = ?').all(name) as Row[]).map((r) => r.id as string);
      for (const id of ids) {
        this.sql('DELETE FROM machine_events WHERE machine_id = ?').run(id);
        this.sql('DELETE FROM machine_versions WHERE machine_id = ?').run(id);
      }
      this.sql('DELETE FROM machines WHERE app_name = ?').run(name);
      this.sql('DELETE FROM public_ports WHERE app_name = ?').run(name);
      this.sql('DELETE FROM volumes WHERE app_name = ?').run(name);
      this.sql('DELETE FROM apps WHERE name = ?').run(name);
    });
  }

  async nextMachineNumber(): Promise<number> {
    return this.transaction(() => this.nextCounter('machine'));
  }

  async insertMachine(write: MachineWrite & { version: MachineVersion }, maxLive = Infinity, place?: Placer): Promise<MachineRecord> {
    if (write.effects?.length) throw new Error('the SQLite store keeps no host work queue: one process runs the machines itself');
    return this.transaction(() => {
      const machine = { ...(place ? place(write.machine, this.hostUsage(), this.nextCounter('machine')) : write.machine), rev: 1 };
      const app = this.sql('SELECT deleting FROM apps WHERE name = ?').get(machine.appName) as { deleting: number } | undefined;
      if (!app) throw new AppGoneError(machine.appName, 'missing');
      if (app.deleting) throw new AppGoneError(machine.appName, 'deleting');
      if (Number.isFinite(maxLive)) {
        // Counting stops at the limit: the check costs at most `maxLive` index entries, not the app's size.
        const live = this.sql("SELECT count(*) AS n FROM (SELECT 1 FROM machines WHERE app_name = ? AND state != 'destroyed' LIMIT ?)")
          .get(machine.appName, maxLive) as { n: number };
        if (live.n >= maxLive) throw new LimitError(`app ${machine.appName} has ${live.n} machines; an app may have at most ${maxLive} machines`);
      }
      try {
        this.sql('INSERT INTO machines (id, app_name, name, region, state, rev, doc, recent_events, host_id, cpus, memory_mb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(machine.id, machine.appName, machine.name, machine.region, machine.state, machine.rev, JSON.stringify(machine), '[]',
            machine.hostId ?? null, ...reservation(machine));
      } catch (error) {
        if (String(error).includes('UNIQUE')) {
          throw new DuplicateError('machine_name', `a machine named "${machine.name}" already exists in app ${machine.appName}`);
        }
        throw error;
      }
      this.writeVersion(write.version);
      this.writeEvents(machine.id, write.events);
      return machine;
    });
  }

  async commit(write: MachineWrite): Promise<MachineRecord> {
    if (write.effects?.length) throw new Error('the SQLite store keeps no host work queue: one process runs the machines itself');
    const machine = { ...write.machine, rev: write.machine.rev + 1 };
    return this.transaction(() => {
      if (write.fence) this.checkFence(write.fence, machine.id);
      const result = this.sql('UPDATE machines SET state = ?, rev = ?, doc = ?, cpus = ?, memory_mb = ? WHERE id = ? AND rev = ?')
        .run(machine.state, machine.rev, JSON.stringify(machine), ...reservation(machine), machine.id, write.machine.rev);
      if (result.changes !== 1) throw new StaleWriteError(machine.id);
      if (write.version) this.writeVersion(write.version);
      this.writeEvents(machine.id, write.events);
      if (machine.state === 'destroyed') this.detach(machine.id);
      return machine;
    });
  }

  /** Inside the write's transaction, which holds the database: no registration can slip in between. */
  private checkFence(fence: HostFence, machineId: string): void {
    const host = this.sql("SELECT json_extract(doc, '$.epoch') AS epoch FROM hosts WHERE id = ?").get(fence.hostId) as Row | undefined;
    const placed = this.sql('SELECT host_id FROM machines WHERE id = ?').get(machineId) as Row | undefined;
    const why = fencedOut(fence, host ? Number(host.epoch) : null, (placed?.host_id as string | null) ?? null, machineId);
    if (why) throw why;
  }

  private writeVersion(version: MachineVersion): void {
    this.sql('INSERT INTO machine_versions (machine_id, version, doc) VALUES (?, ?, ?)')
      .run(version.machineId, version.version, JSON.stringify(version));
  }

  private writeEvents(machineId: string, events: MachineEvent[]): void {
    if (events.length === 0) return;
    const insert = this.sql('INSERT INTO machine_events (id, machine_id, doc) VALUES (?, ?, ?)');
    for (const event of events) insert.run(event.id, machineId, JSON.stringify(event));
    const row = this.sql('SELECT recent_events FROM machines WHERE id = ?').get(machineId) as { recent_events: string };
    const newestFirst = [...events].reverse();
    const recent = [...newestFirst, ...readEventsDoc(row.recent_events)].slice(0, RECENT_EVENTS);
    this.sql('UPDATE machines SET recent_events = ? WHERE id = ?').run(JSON.stringify(recent), machineId);
  }

  async getMachine(appName: string, id: string): Promise<MachineRecord | null> {
    const row = this.sql('SELECT doc FROM machines WHERE id = ? AND app_name = ?').get(id, appName) as Row | undefined;
    return row ? readMachineDoc(row.doc) : null;
  }

  async getListing(appName: string, id: string): Promise<MachineListing | null> {
    const row = this.sql('SELECT doc, recent_events FROM machines WHERE id = ? AND app_name = ?').get(id, appName) as Row | undefined;
    return row ? listingsIn([row])[0] ?? null : null;
  }

  async getMachineById(id: string): Promise<MachineRecord | null> {
    const row = this.sql('SELECT doc FROM machines WHERE id = ?').get(id) as Row | undefined;
    return row ? readMachineDoc(row.doc) : null;
  }

  async listMachines(appName: string, filter: MachineFilter): Promise<MachineListing[]> {
    const { where, params } = machineFilter(appName, filter);
    const rows = this.db.prepare(`SELECT m.doc, m.recent_events FROM machines m WHERE ${where} ORDER BY m.id`).all(...params) as Row[];
    return listingsIn(rows);
  }

  async listMachineRevs(appName: string, filter: MachineFilter): Promise<Array<{ id: string; rev: number }>> {
    const { where, params } = machineFilter(appName, filter);
    return this.db.prepare(`SELECT m.id, m.rev FROM machines m WHERE ${where} ORDER BY m.id`).all(...params) as Array<{ id: string; rev: number }>;
  }

  async getListings(ids: string[]): Promise<MachineListing[]> {
    const out: MachineListing[] = [];
    const select = this.sql('SELECT doc, recent_events FROM machines WHERE id IN (SELECT value FROM json_each(?))');
    for (let i = 0; i < ids.length; i += 500) {
      out.push(...listingsIn(select.all(JSON.stringify(ids.slice(i, i + 500))) as Row[]));
    }
    return out;
  }

  async listOrgMachines(orgSlug: string, query: OrgMachineQuery): Promise<Array<{ machine: MachineRecord; appName: string }>> {
    const filter = filterClauses(query);
    const clauses = ['a.org_slug = ?', ...filter.clauses];
    const params: Array<string | number> = [orgSlug, ...filter.params];
    // A row whose document is not JSON (skipped below) must not fail the whole listing.
    const updated = "(CASE WHEN json_valid(m.doc) THEN json_extract(m.doc, '$.updatedAt') END)";
    if (query.updatedAfter !== undefined) {
      clauses.push(`${updated} > ?`);
      params.push(query.updatedAfter);
    }
    if (query.after) {
      clauses.push(`(${updated} > ? OR (${updated} = ? AND m.id > ?))`);
      params.push(query.after.updatedAt, query.after.updatedAt, query.after.id);
    }
    params.push(query.limit);
    const rows = this.db.prepare(
      `SELECT m.doc, m.app_name FROM machines m JOIN apps a ON a.name = m.app_name WHERE ${clauses.join(' AND ')} ORDER BY ${updated}, m.id LIMIT ?`,
    ).all(...params) as Row[];
    return rows.flatMap((row) => {
      const machine = readMachineDoc(row.doc);
      return machine ? [{ machine, appName: row.app_name as string }] : [];
    });
  }

  async listLiveMachines(): Promise<MachineRecord[]> {
    const rows = this.sql("SELECT doc FROM machines WHERE state NOT IN ('destroyed', 'replaced', 'migrated')").all() as Row[];
    return machinesIn(rows);
  }

  async listUnreadableMachines(): Promise<Array<{ id: string; problem: string }>> {
    const rows = this.sql('SELECT id, doc FROM machines').all() as Row[];
    return rows.flatMap((row) => {
      const problem = machineDocProblem(row.doc);
      return problem ? [{ id: row.id as string, problem }] : [];
    });
  }

  async listMachinesInStates(states: readonly string[]): Promise<MachineRecord[]> {
    const rows = this.db.prepare(`SELECT doc FROM machines WHERE state IN (${states.map(() => '?').join(', ')})`).all(...states) as Row[];
    return machinesIn(rows);
  }

  async listRegionsInUse(): Promise<string[]> {
    const rows = this.sql(`
      SELECT region FROM machines WHERE state NOT IN ('destroyed', 'replaced', 'migrated')
      UNION SELECT json_extract(doc, '$.region') FROM volumes WHERE json_extract(doc, '$.state') <> 'destroyed'
      ORDER BY 1`).all() as Row[];
    return rows.map((row) => row.region as string);
  }

  async listEvents(machineId: string, limit: number): Promise<MachineEvent[]> {
    const rows = this.sql('SELECT doc FROM machine_events WHERE machine_id = ? ORDER BY id DESC LIMIT ?').all(machineId, limit) as Row[];
    return rows.map((row) => JSON.parse(row.doc as string) as MachineEvent);
  }

  async listVersions(machineId: string): Promise<MachineVersion[]> {
    const rows = this.sql('SELECT doc FROM machine_versions WHERE machine_id = ? ORDER BY version DESC').all(machineId) as Row[];
    return rows.map((row) => JSON.parse(row.doc as string) as MachineVersion);
  }

  async getVersion(machineId: string, version: string): Promise<MachineVersion | null> {
    const row = this.sql('SELECT doc FROM machine_versions WHERE machine_id = ? AND version = ?').get(machineId, version) as Row | undefined;
    return row ? (JSON.parse(row.doc as string) as MachineVersion) : null;
  }

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

  async attachVolume(volumeId: string, machineId: string, check: (volume: VolumeRecord | null) => VolumeRecord): Promise<void> {
    this.transaction(() => {
      const row = this.sql('SELECT doc FROM volumes WHERE id = ?').get(volumeId) as Row | undefined;
      const volume = check(row ? (JSON.parse(row.doc as string) as VolumeRecord) : null);
      this.sql('UPDATE volumes SET doc = ? WHERE id = ?').run(JSON.stringify({ ...volume, attachedMachineId: machineId }), volumeId);
    });
  }

  async detachVolumes(machineId: string): Promise<void> {
    this.transaction(() => this.detach(machineId));
  }

  private detach(machineId: string): void {
    const rows = this.sql("SELECT doc FROM volumes WHERE json_extract(doc, '$.attachedMachineId') = ?").all(machineId) as Row[];
    for (const row of rows) {
      const volume = JSON.parse(row.doc as string) as VolumeRecord;
      this.sql('UPDATE volumes SET doc = ? WHERE id = ?').run(JSON.stringify({ ...volume, attachedMachineId: null }), volume.id);
    }
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

  private hostUsage(onlyId: string | null = null): HostUsage[] {
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

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

function machineFilter(appName: string, filter: MachineFilter): { where: string; params: string[] } {
  const { clauses, params } = filterClauses(filter);
  return { where: ['m.app_name = ?', ...clauses].join(' AND '), params: [appName, ...params] };
}

/** Clauses of a filter over `machines m`, shared by app and organization listings. */
function filterClauses(filter: MachineFilter): { clauses: string[]; params: string[] } {
  const clauses: string[] = [];
  const params: string[] = [];
  if (!filter.includeDeleted) clauses.push("m.state <> 'destroyed'");
  if (filter.region) {
    clauses.push('m.region = ?');
    params.push(filter.region);
  }
  if (filter.states?.length) {
    clauses.push(`m.state IN (${filter.states.map(() => '?').join(', ')})`);
    params.push(...filter.states);
  }
  for (const [key, value] of Object.entries(filter.metadata ?? {})) {
    // A row whose document is not JSON (skipped by readers) must not fail the listing.
    clauses.push("(CASE WHEN json_valid(m.doc) THEN json_extract(m.doc, '$.config.metadata.' || json_quote(?)) END) = ?");
    params.push(key, value);
  }
  return { clauses, params };
}

/** The CPUs and memory a machine reserves on its host, as columns. */
function reservation(machine: MachineRecord): [number, number] {
  const { cpus, memoryMb } = reservationOf(machine.config);
  return [cpus, memoryMb];
}

const APP_SELECT = `
  SELECT a.*, (SELECT COUNT(*) FROM machines m WHERE m.app_name = a.name AND m.state <> 'destroyed') AS machine_count
  FROM apps a`;


function publicPort(row: Row): PublicPortRecord {
  return { appName: row.app_name as string, port: row.port as number, hostPort: row.host_port as number };
}

/** SQLite's primary result codes that mean the database could not be written. */
const STORAGE_CODES = new Set([8 /* READONLY */, 10 /* IOERR */, 13 /* FULL */, 14 /* CANTOPEN */]);

/** A StorageError for SQLite's "could not write" errors (extended codes included), else undefined. */
function storageError(error: unknown): StorageError | undefined {
  const sqlite = error as { code?: string; errcode?: number; errstr?: string; message?: string };
  if (sqlite?.code !== 'ERR_SQLITE_ERROR' || sqlite.errcode === undefined || !STORAGE_CODES.has(sqlite.errcode & 0xff)) return undefined;
  return new StorageError(sqlite.errstr || sqlite.message || `SQLite error ${sqlite.errcode}`, { cause: error });
}
