/**
 * The embedded store: apps and machines, each machine's record one JSON document
 * beside the columns it is queried by; volumes and hosts are in the classes it
 * extends (volumes.ts, hosts.ts), over one database file (sqlite-database.ts).
 */
import type { App, MachineEvent, MachineRecord, MachineVersion } from '../../domain/machine.ts';
import { allocateIpv4, reservationOf } from '../../domain/host.ts';
import type { AppWithCounts, HostFence, MachineFilter, MachineListing, MachineWrite, OrgMachineQuery, MachineInsert, Placer, Store } from '../store.ts';
import { AppGoneError, DuplicateError, fencedOut, LimitError, LiveMachinesError, StaleWriteError } from '../errors.ts';
import type { UnreadableRecord } from '../store.ts';
import { appFromRow } from '../app-rows.ts';
import { ipv4HoldersIn, listingsIn, machineDocProblem, machinesIn, readEventsDoc, readMachineDoc } from '../documents.ts';
import { eventDocs, readablePage, unreadableRecords, versionDocs } from '../documents.ts';
import { SqliteHosts } from './hosts.ts';
import type { Row } from './sqlite-database.ts';

/** How many of a machine's newest events ride along with it in listings. */
const RECENT_EVENTS = 10;

export class SqliteStore extends SqliteHosts implements Store {
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
      this.sql('DELETE FROM app_secrets WHERE app_name = ?').run(name);
      this.sql('DELETE FROM app_releases WHERE app_name = ?').run(name);
      this.sql('DELETE FROM apps WHERE name = ?').run(name);
    });
  }

  async nextMachineNumber(): Promise<number> {
    return this.transaction(() => this.nextCounter('machine'));
  }

  async insertMachine(write: MachineInsert, maxLive = Infinity, place?: Placer): Promise<MachineRecord> {
    return this.grouped(() => {
      const machine = { ...(place ? this.placed(write.machine, place) : write.machine), rev: 1 };
      const app = this.sql('SELECT deleting, id FROM apps WHERE name = ?').get(machine.appName) as { deleting: number; id: string } | undefined;
      if (!app) throw new AppGoneError(machine.appName, 'missing');
      if (app.deleting) throw new AppGoneError(machine.appName, 'deleting');
      if (write.appId !== undefined && app.id !== write.appId) throw new AppGoneError(machine.appName, 'replaced');
      if (Number.isFinite(maxLive)) {
        // Counting stops at the limit: the check costs at most `maxLive` index entries, not the app's size.
        const live = this.sql("SELECT count(*) AS n FROM (SELECT 1 FROM machines WHERE app_name = ? AND state != 'destroyed' LIMIT ?)")
          .get(machine.appName, maxLive) as { n: number };
        if (live.n >= maxLive) throw new LimitError(`app ${machine.appName} has ${live.n} machines; an app may have at most ${maxLive} machines`);
      }
      try {
        this.sql(`INSERT INTO machines (id, app_name, name, region, state, rev, doc, recent_events, host_id, cpus, memory_mb, private_ipv4)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
          .run(machine.id, machine.appName, machine.name, machine.region, machine.state, machine.rev, JSON.stringify(machine), '[]',
            machine.hostId ?? null, ...reservation(machine), machine.privateIpv4 ?? null);
      } catch (error) {
        if (String(error).includes('UNIQUE constraint failed: machines.app_name, machines.name')) {
          throw new DuplicateError('machine_name', `a machine named "${machine.name}" already exists in app ${machine.appName}`);
        }
        throw error;
      }
      this.writeVersion(write.version);
      this.writeEvents(machine.id, write.events);
      this.queueEffects(machine, write.effects);
      return machine;
    });
  }

  async commit(write: MachineWrite): Promise<MachineRecord> {
    const machine = { ...write.machine, rev: write.machine.rev + 1 };
    return this.grouped(() => {
      if (write.fence) this.checkFence(write.fence, machine.id);
      const result = this.sql('UPDATE machines SET state = ?, rev = ?, doc = ?, cpus = ?, memory_mb = ? WHERE id = ? AND rev = ?')
        .run(machine.state, machine.rev, JSON.stringify(machine), ...reservation(machine), machine.id, write.machine.rev);
      if (result.changes !== 1) throw new StaleWriteError(machine.id);
      if (write.version) this.writeVersion(write.version);
      this.writeEvents(machine.id, write.events);
      if (machine.state === 'destroyed') this.detach(machine.id);
      this.queueEffects(machine, write.effects);
      return machine;
    });
  }

  /**
   * `machine` placed (its host and private address) with the lowest IPv4 address its
   * host's range has free, inside the insert's transaction, which holds the database.
   */
  private placed(machine: MachineRecord, place: Placer): MachineRecord {
    const hosts = this.hostUsage();
    const placed = place(machine, hosts, this.nextCounter('machine'));
    const host = hosts.find((usage) => usage.host.id === placed.hostId)?.host;
    if (!host) return placed;
    const holders = this.sql("SELECT private_ipv4, CASE WHEN private_ipv4 IS NULL THEN doc END AS doc FROM machines WHERE host_id = ? AND state <> 'destroyed'")
      .all(host.id) as Row[];
    const privateIpv4 = allocateIpv4(host, ipv4HoldersIn(holders));
    return privateIpv4 === undefined ? placed : { ...placed, privateIpv4 };
  }

  /** Inside the write's transaction, which holds the database: no registration can slip in between. */
  private checkFence(fence: HostFence, machineId: string): void {
    const host = this.sql("SELECT epoch FROM hosts WHERE id = ? AND state = 'active'").get(fence.hostId) as Row | undefined;
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

  async listOrgMachines(orgSlug: string, query: OrgMachineQuery): Promise<Array<{ machine: MachineRecord; appName: string; at: string }>> {
    const filter = filterClauses(query);
    const clauses = ['a.org_slug = ?', ...filter.clauses];
    const params: Array<string | number> = [orgSlug, ...filter.params];
    if (query.updatedAfter !== undefined) {
      // A row whose document is not JSON (skipped below) must not fail the whole listing.
      clauses.push("(CASE WHEN json_valid(m.doc) THEN json_extract(m.doc, '$.updatedAt') END) > ?");
      params.push(query.updatedAfter);
    }
    if (query.after) {
      if (!/^\d{1,15}$/.test(query.after.at)) return [];
      clauses.push('m.change_seq > ?');
      params.push(Number(query.after.at));
    }
    params.push(query.limit);
    const rows = this.db.prepare(
      `SELECT m.doc, m.app_name, m.change_seq FROM machines m JOIN apps a ON a.name = m.app_name WHERE ${clauses.join(' AND ')} ORDER BY m.change_seq LIMIT ?`,
    ).all(...params) as Row[];
    return rows.flatMap((row) => {
      const machine = readMachineDoc(row.doc);
      return machine ? [{ machine, appName: row.app_name as string, at: String(row.change_seq) }] : [];
    });
  }


  async listLiveMachines(hostId?: string): Promise<MachineRecord[]> {
    const rows = this.sql("SELECT doc FROM machines WHERE state NOT IN ('destroyed', 'replaced', 'migrated') AND (?1 IS NULL OR host_id = ?1) ORDER BY id")
      .all(hostId ?? null) as Row[];
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
      UNION SELECT json_extract(doc, '$.region') FROM volumes WHERE json_valid(doc) AND json_extract(doc, '$.state') <> 'destroyed'
      ORDER BY 1`).all() as Row[];
    return rows.flatMap((row) => (typeof row.region === 'string' ? [row.region] : []));
  }

  async listEvents(machineId: string, limit: number): Promise<MachineEvent[]> {
    // The newest `limit` that hold events, in the order they were written (rowid): a spoiled row does not take a readable event's place.
    const page = (after: Row | undefined, want: number) => this.sql('SELECT rowid AS seq, doc FROM machine_events WHERE machine_id = ? AND (?2 IS NULL OR rowid < ?2) ORDER BY rowid DESC LIMIT ?3')
      .all(machineId, (after?.seq as number | undefined) ?? null, want) as Row[];
    return readablePage(limit, page, (row) => eventDocs.read(row.doc));
  }

  async listVersions(machineId: string): Promise<MachineVersion[]> {
    return versionDocs.all(this.sql('SELECT doc FROM machine_versions WHERE machine_id = ? ORDER BY version DESC').all(machineId) as Row[]);
  }

  async getVersion(machineId: string, version: string): Promise<MachineVersion | null> {
    const row = this.sql('SELECT doc FROM machine_versions WHERE machine_id = ? AND version = ?').get(machineId, version) as Row | undefined;
    return row ? versionDocs.read(row.doc) : null;
  }

  async listUnreadableRecords(): Promise<UnreadableRecord[]> {
    return unreadableRecords(async (table, key, after, limit) => {
      const columns = key.join(', ');
      const where = after ? `WHERE (${columns}) > (${key.map(() => '?').join(', ')})` : '';
      return this.sql(`SELECT ${columns}, doc FROM ${table} ${where} ORDER BY ${columns} LIMIT ?`).all(...(after ?? []) as string[], limit) as Row[];
    });
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
  SELECT a.*, (SELECT COUNT(*) FROM machines m WHERE m.app_name = a.name AND m.state <> 'destroyed') AS machine_count,
    (SELECT json_group_object(state, n) FROM (SELECT state, COUNT(*) AS n FROM machines m WHERE m.app_name = a.name AND m.state <> 'destroyed' GROUP BY state)) AS machine_states
  FROM apps a`;
