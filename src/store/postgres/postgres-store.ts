/**
 * The store for many hosts: PostgreSQL through node-postgres, safe for several hangars
 * (API replicas) writing one database at once. Same rules as the SQLite store: a
 * machine write is one transaction holding its record, events and any new version,
 * refused when the record's `rev` moved (`UPDATE … WHERE rev`); what must be decided
 * against other rows (an app's limit, a volume's attachment, a free host port) is
 * decided with those rows locked.
 */
import type { Pool } from 'pg';
import { allocateIpv4, type HostIdentity, type HostRecord, type HostState, type HostUsage } from '../../domain/host.ts';
import type { App, MachineEvent, MachineRecord, MachineVersion } from '../../domain/machine.ts';
import {
  AppGoneError, type AppWithCounts, DuplicateError, fencedOut, type HostFence, type MachineFilter, type QueuedWork, type MachineListing, type MachineWrite, type OrgMachineQuery,
  LimitError, LiveMachinesError, type Placer, type RegisterOptions, StaleWriteError, type Store,
} from '../store.ts';
import type { UnreadableRecord } from '../store.ts';
import { declareLostHosts, heartbeatHost, hostUsage, registerHost, setHostCordoned, setHostState } from './hosts.ts';
import { appFromRow } from '../app-rows.ts';
import { ipv4HoldersIn, listingsIn, machineDocProblem, machinesIn, readEventsDoc, readMachineDoc } from '../documents.ts';
import { eventDocs, readablePage, unreadableRecords, versionDocs } from '../documents.ts';
import { PostgresChanges } from './changes.ts';
import { PostgresChecks } from './checks.ts';
import { changed, isUniqueViolation, openPool, rows, type Sql, transaction } from './connection.ts';
import { filterClauses, historyInserts, machineColumns, machineWhere, NOT_LIVE, Params, withRecent } from './machine-sql.ts';
import { ackWork, CHANGE_CHANNEL, claimWork, queueEffects, workInserts } from './host-work.ts';
import { migrate } from './migrations.ts';
import { detachAll, PostgresVolumes } from './volumes.ts';


export interface PostgresOptions {
  /** `postgres://user:password@host:port/database?sslmode=…` */
  url: string;
  /** Most connections this store opens. */
  poolSize: number;
  /** Told of an idle connection that broke (it is replaced when needed). */
  onIdleError?: (error: Error) => void;
}

export class PostgresStore extends PostgresVolumes implements Store {
  private closed = false;
  readonly checks: PostgresChecks;
  readonly changes: PostgresChanges;

  private constructor(pool: Pool) {
    super(pool);
    this.checks = new PostgresChecks(pool);
    this.changes = new PostgresChanges(pool);
  }

  /** Connects and brings the schema up to date; the tables are created at the first open. */
  static async open(options: PostgresOptions): Promise<PostgresStore> {
    const pool = openPool({ url: options.url, size: options.poolSize, onIdleError: options.onIdleError });
    try {
      await migrate(pool);
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresStore(pool);
  }

  private async nextCounter(db: Sql, name: string): Promise<number> {
    const [row] = await rows<{ value: string }>(db,
      'INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value', [name]);
    return Number(row?.value);
  }

  async createApp(app: Omit<App, 'netNumber' | 'deleting'>): Promise<App> {
    return transaction(this.pool, async (db) => {
      const netNumber = await this.nextCounter(db, 'app_net');
      try {
        await rows(db, 'INSERT INTO apps (name, id, org_slug, network, net_number, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [app.name, app.id, app.orgSlug, app.network, netNumber, app.createdAt]);
      } catch (error) {
        if (isUniqueViolation(error)) throw new DuplicateError('app', `app name "${app.name}" is already taken`);
        throw error;
      }
      return { ...app, netNumber, deleting: false };
    });
  }

  async getApp(name: string): Promise<App | null> {
    const [row] = await rows(this.pool, `SELECT ${APP_COLUMNS}, 0 AS machine_count FROM apps a WHERE a.name = $1`, [name]);
    if (!row) return null;
    const { machineCount: _count, ...app } = appFromRow(row);
    return app;
  }

  async getAppWithCounts(name: string): Promise<AppWithCounts | null> {
    const [row] = await rows(this.pool, `${APP_SELECT} WHERE a.name = $1`, [name]);
    return row ? appFromRow(row) : null;
  }

  async listApps(orgSlug?: string): Promise<AppWithCounts[]> {
    const found = orgSlug === undefined
      ? await rows(this.pool, `${APP_SELECT} ORDER BY a.name`)
      : await rows(this.pool, `${APP_SELECT} WHERE a.org_slug = $1 ORDER BY a.name`, [orgSlug]);
    return found.map(appFromRow);
  }

  async markAppDeleting(name: string): Promise<App | null> {
    await changed(this.pool, 'UPDATE apps SET deleting = true WHERE name = $1', [name]);
    return this.getApp(name);
  }

  async deleteApp(name: string): Promise<void> {
    await transaction(this.pool, async (db) => {
      // Inserts into the app wait for this lock, then find the app gone.
      await rows(db, 'SELECT 1 FROM apps WHERE name = $1 FOR UPDATE', [name]);
      const live = await rows<{ id: string }>(db, `SELECT id FROM machines WHERE app_name = $1 AND state NOT IN ${NOT_LIVE} ORDER BY id`, [name]);
      if (live.length > 0) throw new LiveMachinesError(name, live.map((row) => row.id));
      await rows(db, `
        WITH gone AS (DELETE FROM machines WHERE app_name = $1 RETURNING id),
          events AS (DELETE FROM machine_events WHERE machine_id IN (SELECT id FROM gone)),
          versions AS (DELETE FROM machine_versions WHERE machine_id IN (SELECT id FROM gone)),
          ports AS (DELETE FROM public_ports WHERE app_name = $1),
          volumes AS (DELETE FROM volumes WHERE app_name = $1)
        DELETE FROM apps WHERE name = $1`, [name]);
    });
  }

  async nextMachineNumber(): Promise<number> {
    return nextMachineNumber(this.pool);
  }

  async insertMachine(write: MachineWrite & { version: MachineVersion }, maxLive = Infinity, place?: Placer): Promise<MachineRecord> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryInsertMachine(write, maxLive, place);
      } catch (error) {
        // Another create took the room of the host this one chose: choose again.
        if (!(error instanceof HostTaken) || attempt >= PLACEMENT_ATTEMPTS) throw error instanceof HostTaken ? error.cause ?? error : error;
      }
    }
  }

  /**
   * One insert: the host is chosen from a read of every host's room, then its
   * reservation row is locked until the commit (creates on one host take turns from
   * there), its room read again and the machine's IPv4 address chosen under that
   * lock: a create racing for the same room finds it gone (HostTaken) and chooses
   * again, and no two creates take the same address. Then the machine, its history
   * and its host's work go in one statement. The lock is held for three round trips,
   * whatever else the transaction did before.
   */
  private async tryInsertMachine(write: MachineWrite & { version: MachineVersion }, maxLive: number, place?: Placer): Promise<MachineRecord> {
    return transaction(this.pool, async (db) => {
      // A share lock on the app: a deletion waits for this insert, other inserts do not.
      const [app] = await rows<{ deleting: boolean }>(db, 'SELECT deleting FROM apps WHERE name = $1 FOR SHARE', [write.machine.appName]);
      if (!app) throw new AppGoneError(write.machine.appName, 'missing');
      if (app.deleting) throw new AppGoneError(write.machine.appName, 'deleting');
      if (Number.isFinite(maxLive)) await checkLiveLimit(db, write.machine.appName, maxLive);
      const number = place ? await nextMachineNumber(db) : 0;
      const hosts = place ? await hostUsage(db) : [];
      const chosen = place ? place(write.machine, hosts, number) : write.machine;
      const machine = { ...(place && chosen.hostId ? await holdPlace(db, write.machine, chosen, hosts, place, number) : chosen), rev: 1 };
      const params = new Params();
      const values = [
        machine.id, machine.appName, machine.name, machine.region, ...machineColumns(machine), JSON.stringify(withRecent([], write.events)), machine.hostId ?? null,
        machine.privateIpv4 ?? null,
      ];
      const insertMachine = `new_machine AS (INSERT INTO machines (id, app_name, name, region, state, rev, updated_at, metadata, doc, cpus, memory_mb, recent_events, host_id,
        private_ipv4) VALUES (${values.map((value) => params.add(value)).join(', ')}))`;
      const work = workInserts(params, machine, write.effects);
      const ctes = [insertMachine, ...historyInserts(params, machine.id, write.events, write.version), ...(work?.ctes ?? [])];
      try {
        // Announced inside the transaction: every process hears of the machine when, and only if, it commits.
        const announce = `pg_notify(${params.add(CHANGE_CHANNEL)}, ${params.add(`${machine.id}:${machine.rev}`)})`;
        await rows(db, `WITH ${ctes.join(', ')} ${work ? `${work.select}, ${announce}` : `SELECT ${announce}`}`, params.values);
      } catch (error) {
        if (isUniqueViolation(error) && (error as { constraint?: unknown }).constraint === 'machine_names') {
          throw new DuplicateError('machine_name', `a machine named "${machine.name}" already exists in app ${machine.appName}`);
        }
        throw error;
      }
      return machine;
    });
  }

  async commit(write: MachineWrite): Promise<MachineRecord> {
    const machine = { ...write.machine, rev: write.machine.rev + 1 };
    // A fenced write waits out a registration of its host under way (which locks FOR UPDATE), then sees its new epoch.
    const update = `UPDATE machines SET state = $1, rev = $2, updated_at = $3, metadata = $4, doc = $5, cpus = $6, memory_mb = $7
      WHERE id = $8 AND rev = $9
        AND ($10::text IS NULL OR (host_id = $10 AND EXISTS (SELECT 1 FROM hosts WHERE id = $10 AND epoch = $11 FOR KEY SHARE)))
      RETURNING recent_events, pg_notify('${CHANGE_CHANNEL}', id || ':' || rev)`;
    const values = [...machineColumns(machine), machine.id, write.machine.rev, write.fence?.hostId ?? null, write.fence?.epoch ?? null];
    if (write.events.length === 0 && !write.version && machine.state !== 'destroyed' && !write.effects?.length) {
      // The record alone: one statement is one transaction.
      if (await changed(this.pool, update, values) !== 1) throw await refusal(this.pool, write);
      return machine;
    }
    return transaction(this.pool, async (db) => {
      // The row is locked from here on: the recent events read are the ones replaced.
      const [row] = await rows(db, update, values);
      if (!row) throw await refusal(db, write);
      const params = new Params();
      const ctes = historyInserts(params, machine.id, write.events, write.version);
      if (write.events.length > 0) {
        const recent = JSON.stringify(withRecent(readEventsDoc(row.recent_events), write.events));
        await rows(db, `WITH ${ctes.join(', ')} UPDATE machines SET recent_events = ${params.add(recent)} WHERE id = ${params.add(machine.id)}`, params.values);
      } else if (ctes.length > 0) {
        await rows(db, `WITH ${ctes.join(', ')} SELECT 1`, params.values);
      }
      if (machine.state === 'destroyed') await detachAll(db, machine.id);
      await queueEffects(db, machine, write.effects);
      return machine;
    });
  }

  async getMachine(appName: string, id: string): Promise<MachineRecord | null> {
    const [row] = await rows(this.pool, 'SELECT doc FROM machines WHERE id = $1 AND app_name = $2', [id, appName]);
    return row ? readMachineDoc(row.doc) : null;
  }

  async getListing(appName: string, id: string): Promise<MachineListing | null> {
    const found = await rows(this.pool, 'SELECT doc, recent_events FROM machines WHERE id = $1 AND app_name = $2', [id, appName]);
    return listingsIn(found)[0] ?? null;
  }

  async getMachineById(id: string): Promise<MachineRecord | null> {
    const [row] = await rows(this.pool, 'SELECT doc FROM machines WHERE id = $1', [id]);
    return row ? readMachineDoc(row.doc) : null;
  }

  async listMachines(appName: string, filter: MachineFilter): Promise<MachineListing[]> {
    const params = new Params();
    const where = machineWhere(params, appName, filter);
    return listingsIn(await rows(this.pool, `SELECT m.doc, m.recent_events FROM machines m WHERE ${where} ORDER BY m.id`, params.values));
  }

  async listMachineRevs(appName: string, filter: MachineFilter): Promise<Array<{ id: string; rev: number }>> {
    const params = new Params();
    const where = machineWhere(params, appName, filter);
    return rows<{ id: string; rev: number }>(this.pool, `SELECT m.id, m.rev FROM machines m WHERE ${where} ORDER BY m.id`, params.values);
  }

  async getListings(ids: string[]): Promise<MachineListing[]> {
    if (ids.length === 0) return [];
    return listingsIn(await rows(this.pool, 'SELECT doc, recent_events FROM machines WHERE id = ANY($1::text[])', [ids]));
  }

  async listOrgMachines(orgSlug: string, query: OrgMachineQuery): Promise<Array<{ machine: MachineRecord; appName: string; at: string }>> {
    const params = new Params();
    // Below the oldest transaction still running: what a transaction in flight commits lands after every row read.
    const clauses = [`a.org_slug = ${params.add(orgSlug)}`, 'm.change_xid < pg_snapshot_xmin(pg_current_snapshot())', ...filterClauses(params, query)];
    if (query.updatedAfter !== undefined) clauses.push(`m.updated_at > ${params.add(query.updatedAfter)}::double precision`);
    if (query.after) {
      if (!/^\d{1,20}$/.test(query.after.at)) return [];
      clauses.push(`(m.change_xid, m.id) > (${params.add(query.after.at)}::xid8, ${params.add(query.after.id)}::text)`);
    }
    const found = await rows(this.pool, `SELECT m.doc, m.app_name, m.change_xid::text AS at FROM machines m JOIN apps a ON a.name = m.app_name
      WHERE ${clauses.join(' AND ')} ORDER BY m.change_xid, m.id LIMIT ${params.add(query.limit)}`, params.values);
    return found.flatMap((row) => {
      const machine = readMachineDoc(row.doc);
      return machine ? [{ machine, appName: row.app_name as string, at: row.at as string }] : [];
    });
  }


  async listLiveMachines(hostId?: string): Promise<MachineRecord[]> {
    return machinesIn(await rows(this.pool, `SELECT doc FROM machines WHERE state NOT IN ${NOT_LIVE} AND ($1::text IS NULL OR host_id = $1) ORDER BY id`,
      [hostId ?? null]));
  }

  async listUnreadableMachines(): Promise<Array<{ id: string; problem: string }>> {
    const found = await rows<{ id: string; doc: string }>(this.pool, 'SELECT id, doc FROM machines ORDER BY id');
    return found.flatMap((row) => {
      const problem = machineDocProblem(row.doc);
      return problem ? [{ id: row.id, problem }] : [];
    });
  }

  async listMachinesInStates(states: readonly string[]): Promise<MachineRecord[]> {
    return machinesIn(await rows(this.pool, 'SELECT doc FROM machines WHERE state = ANY($1::text[]) ORDER BY id', [states]));
  }

  async listRegionsInUse(): Promise<string[]> {
    const found = await rows<{ region: string }>(this.pool, `
      SELECT region FROM machines WHERE state NOT IN ${NOT_LIVE}
      UNION SELECT region FROM volumes WHERE state <> 'destroyed'
      ORDER BY 1`);
    return found.map((row) => row.region);
  }

  async listEvents(machineId: string, limit: number): Promise<MachineEvent[]> {
    // The newest `limit` that hold events: a spoiled row does not take a readable event's place.
    const page = (after: Record<string, unknown> | undefined, want: number) => rows(this.pool,
      'SELECT seq, doc FROM machine_events WHERE machine_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3', [machineId, after?.seq ?? null, want]);
    return readablePage(limit, page, (row) => eventDocs.read(row.doc));
  }

  async listVersions(machineId: string): Promise<MachineVersion[]> {
    return versionDocs.all(await rows(this.pool, 'SELECT doc FROM machine_versions WHERE machine_id = $1 ORDER BY version DESC', [machineId]));
  }

  async getVersion(machineId: string, version: string): Promise<MachineVersion | null> {
    const [row] = await rows(this.pool, 'SELECT doc FROM machine_versions WHERE machine_id = $1 AND version = $2', [machineId, version]);
    return row ? versionDocs.read(row.doc) : null;
  }

  async listUnreadableRecords(): Promise<UnreadableRecord[]> {
    return unreadableRecords((table, key, after, limit) => {
      const columns = key.join(', ');
      const where = after ? `WHERE (${columns}) > (${key.map((_, i) => `$${i + 2}::text`).join(', ')})` : '';
      return rows(this.pool, `SELECT ${columns}, doc FROM ${table} ${where} ORDER BY ${columns} LIMIT $1`, [limit, ...(after ?? [])]);
    });
  }

  async registerHost(host: HostIdentity, options: RegisterOptions): Promise<HostRecord> {
    return registerHost(this.pool, host, options);
  }

  async heartbeatHost(id: string, epoch: number): Promise<boolean> {
    return heartbeatHost(this.pool, id, epoch);
  }

  async setHostCordoned(id: string, cordoned: boolean): Promise<HostRecord | null> {
    return setHostCordoned(this.pool, id, cordoned);
  }

  async declareLostHosts(silentMs: number): Promise<HostRecord[]> {
    return declareLostHosts(this.pool, silentMs);
  }

  async setHostState(id: string, from: readonly HostState[], to: HostState): Promise<HostRecord | null> {
    return setHostState(this.pool, id, from, to);
  }

  async dropHostWork(hostId: string): Promise<number> {
    return changed(this.pool, 'DELETE FROM host_work WHERE host_id = $1', [hostId]);
  }

  async claimWork(host: HostFence, taken: readonly number[], limit: number): Promise<QueuedWork[]> {
    return claimWork(this.pool, host, taken, limit);
  }

  async ackWork(host: HostFence, ids: readonly number[]): Promise<void> {
    await ackWork(this.pool, host, ids);
  }

  async listHostUsage(): Promise<HostUsage[]> {
    return hostUsage(this.pool);
  }

  async getHost(id: string): Promise<HostUsage | null> {
    return (await hostUsage(this.pool, id))[0] ?? null;
  }

  async adoptUnplacedMachines(hostId: string): Promise<number> {
    // Read and written here rather than cast in SQL: a row whose document is not JSON is skipped, not fatal.
    const unplaced = await rows<{ id: string; doc: string }>(this.pool, 'SELECT id, doc FROM machines WHERE host_id IS NULL');
    let adopted = 0;
    for (const row of unplaced) {
      const machine = readMachineDoc(row.doc);
      if (!machine) continue;
      adopted += await changed(this.pool, 'UPDATE machines SET host_id = $1, doc = $2 WHERE id = $3 AND host_id IS NULL',
        [hostId, JSON.stringify({ ...machine, hostId }), row.id]);
    }
    return adopted;
  }

  /** The database's clock now (unix ms): what a cluster's processes keep time by. */
  async databaseNow(): Promise<number> {
    const [row] = await rows<{ now: number }>(this.pool, 'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now');
    return Number(row?.now);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** Times a create chooses a host again after another create took the room of its first choice. */
const PLACEMENT_ATTEMPTS = 5;
/** Below this many machines short of its limit, an app's inserts count without waiting for each other. */
const LIMIT_SLACK = 64;

/** The host chosen first had no room left once locked (another create took it); the choice made then is the cause. */
class HostTaken extends Error {}

async function nextMachineNumber(db: Sql): Promise<number> {
  const [row] = await rows<{ n: string }>(db, "SELECT nextval('machine_numbers') AS n");
  return Number(row?.n);
}

/**
 * Refuses a machine past the app's limit. Far below it, inserts count at once;
 * within LIMIT_SLACK of it they take turns (an advisory lock per app) and count
 * again, so the limit holds while fewer than LIMIT_SLACK inserts of one app run at once.
 */
async function checkLiveLimit(db: Sql, appName: string, maxLive: number): Promise<void> {
  const count = async () => {
    const [live] = await rows<{ n: number }>(db,
      "SELECT count(*)::integer AS n FROM (SELECT 1 FROM machines WHERE app_name = $1 AND state <> 'destroyed' LIMIT $2) live", [appName, maxLive]);
    return live?.n ?? 0;
  };
  let n = await count();
  if (n >= maxLive - LIMIT_SLACK) {
    await rows(db, 'SELECT pg_advisory_xact_lock(hashtext($1))', [`hangar-app-limit:${appName}`]);
    n = await count();
  }
  if (n >= maxLive) throw new LimitError(`app ${appName} has ${n} machines; an app may have at most ${maxLive} machines`);
}

/**
 * Locks the reservation row of the host `placed` went to (made for a host's first
 * machine), which every create on that host and the insert's own trigger take, until
 * the commit. Under it, places `asked` again on that host given its room as it is
 * now (it still fits, or HostTaken), and gives `placed` the lowest IPv4 address of
 * the host's range that its machines leave free: each statement after the lock sees
 * every create that held it before.
 */
async function holdPlace(db: Sql, asked: MachineRecord, placed: MachineRecord, hosts: HostUsage[], place: Placer, number: number): Promise<MachineRecord> {
  const chosen = hosts.find((usage) => usage.host.id === placed.hostId);
  if (!chosen) throw new HostTaken(`host ${placed.hostId} is gone`);
  const [room] = await rows<{ machines: number; cpus: number; memory_mb: number }>(db, `
    INSERT INTO host_reservations AS r (host_id, machines, cpus, memory_mb) VALUES ($1, 0, 0, 0)
    ON CONFLICT (host_id) DO UPDATE SET machines = r.machines
    RETURNING r.machines, r.cpus, r.memory_mb`, [chosen.host.id]);
  const now = { ...chosen, machines: room?.machines ?? 0, reservedCpus: room?.cpus ?? 0, reservedMemoryMb: room?.memory_mb ?? 0 };
  try {
    place(asked, [now], number);
  } catch (error) {
    throw new HostTaken('the host chosen is full now', { cause: error });
  }
  const holders = await rows(db, `SELECT private_ipv4, CASE WHEN private_ipv4 IS NULL THEN doc END AS doc FROM machines
    WHERE host_id = $1 AND state <> 'destroyed'`, [chosen.host.id]);
  const privateIpv4 = allocateIpv4(chosen.host, ipv4HoldersIn(holders));
  return privateIpv4 === undefined ? placed : { ...placed, privateIpv4 };
}

/** Why a write changed no row: its fence (another host's machine, or an old epoch), else a stale read. */
async function refusal(db: Sql, write: MachineWrite): Promise<Error> {
  const { fence, machine } = write;
  if (fence) {
    const [found] = await rows<{ epoch: number | null; host_id: string | null }>(db,
      'SELECT (SELECT epoch FROM hosts WHERE id = $1) AS epoch, (SELECT host_id FROM machines WHERE id = $2) AS host_id', [fence.hostId, machine.id]);
    const why = fencedOut(fence, found?.epoch ?? null, found?.host_id ?? null, machine.id);
    if (why) return why;
  }
  return new StaleWriteError(machine.id);
}

/** Named, not `a.*`: a prepared statement must keep its columns when a migration adds one. */
const APP_COLUMNS = 'a.name, a.id, a.org_slug, a.network, a.net_number, a.created_at, a.deleting';

const APP_SELECT = `
  SELECT ${APP_COLUMNS}, (SELECT count(*)::integer FROM machines m WHERE m.app_name = a.name AND m.state <> 'destroyed') AS machine_count
  FROM apps a`;
