/**
 * The store for many hosts: PostgreSQL through node-postgres, safe for several hangars
 * (API replicas) writing one database at once. Same rules as the SQLite store: a
 * machine write is one transaction holding its record, events and any new version,
 * refused when the record's `rev` moved (`UPDATE … WHERE rev`); what must be decided
 * against other rows (an app's limit, a volume's attachment, a free host port) is
 * decided with those rows locked.
 */
import type { Pool } from 'pg';
import type { ImageRef } from '../../domain/image-ref.ts';
import type { HostIdentity, HostRecord, HostState, HostUsage } from '../../domain/host.ts';
import type { MachineEvent, MachineRecord, MachineVersion } from '../../domain/machine.ts';
import type { HostFence, MachineFilter, QueuedWork, MachineListing, MachineWrite, OrgMachineQuery, MachineInsert, Placer, RegisterOptions, Store } from '../store.ts';
import { fencedOut, StaleWriteError } from '../errors.ts';
import type { UnreadableRecord } from '../store.ts';
import { declareLostHosts, heartbeatHost, hostUsage, registerHost, setHostCordoned, setHostState } from './hosts.ts';
import { listingsIn, machineDocProblem, machinesIn, readEventsDoc, readMachineDoc } from '../documents.ts';
import { eventDocs, readablePage, unreadableRecords, versionDocs } from '../documents.ts';
import { announcements } from './channels.ts';
import { PostgresChanges } from './changes.ts';
import { PostgresChecks } from './checks.ts';
import { PostgresHostNumbers } from './host-numbers.ts';
import { changed, openPool, rows, type Sql, transaction } from './connection.ts';
import { filterClauses, historyInserts, MACHINE_COLUMNS, machineColumns, machineWhere, NOT_LIVE, Params, RECENT_EVENTS, withRecent } from './machine-sql.ts';
import { ackWork, claimWork, queueEffects, workInserts } from './host-work.ts';
import { insertMachine } from './machine-insert.ts';
import { migrate } from './migrations.ts';
import { PostgresDirectory } from './directory.ts';
import { PostgresRequests } from './requests.ts';
import { moveMachine } from './machine-move.ts';
import { PostgresActivity } from './activity.ts';
import { PostgresHeldImages } from './held-images.ts';
import { PostgresMesh } from './mesh.ts';
import { PostgresApps } from './apps.ts';
import { detachAll } from './volumes.ts';

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database?sslmode=…` */
  url: string;
  /** Most connections this store opens. */
  poolSize: number;
  /** Told of an idle connection that broke (it is replaced when needed). */
  onIdleError?: (error: Error) => void;
}

export class PostgresStore extends PostgresApps implements Store {
  private closed = false;
  readonly checks: PostgresChecks;
  readonly changes: PostgresChanges;
  readonly hostNumbers: PostgresHostNumbers;
  readonly mesh: PostgresMesh;
  readonly directory: PostgresDirectory;
  readonly requests: PostgresRequests;
  readonly activity: PostgresActivity;
  private readonly heldImages: PostgresHeldImages;

  private constructor(pool: Pool) {
    super(pool);
    this.checks = new PostgresChecks(pool);
    this.hostNumbers = new PostgresHostNumbers(pool);
    this.mesh = new PostgresMesh(pool);
    this.directory = new PostgresDirectory(pool);
    this.requests = new PostgresRequests(pool);
    this.activity = new PostgresActivity(pool);
    this.heldImages = new PostgresHeldImages(pool);
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

  async nextMachineNumber(): Promise<number> {
    return nextMachineNumber(this.pool);
  }

  moveMachine(write: MachineWrite, from: string, volumes: readonly string[]): Promise<MachineRecord> {
    return moveMachine(this.pool, write, from, volumes);
  }

  async insertMachine(write: MachineInsert, maxLive = Infinity, place?: Placer): Promise<MachineRecord> {
    return insertMachine(this.pool, write, maxLive, place);
  }

  holdImage(fence: HostFence, image: ImageRef): Promise<void> {
    return this.heldImages.hold(fence, image);
  }

  /**
   * One statement, and so one transaction of its own, unless the machine is destroyed
   * (its volumes are let go in the same transaction, which reads them first): the
   * record, its recent events, its history and its host's work are written only if
   * the record's revision (and fence) held.
   */
  async commit(write: MachineWrite): Promise<MachineRecord> {
    const machine = { ...write.machine, rev: write.machine.rev + 1 };
    if (machine.state === 'destroyed') return this.commitDestroyed(write, machine);
    const params = new Params();
    const columns = MACHINE_COLUMNS.map((column, i) => `${column} = ${params.add(machineColumns(machine)[i])}`);
    if (write.events.length > 0) {
      const newestFirst = [...write.events].reverse().map((event) => JSON.stringify(event));
      columns.push(`recent_events = hangar_recent_events(recent_events, ${params.add(newestFirst)}::text[], ${params.add(RECENT_EVENTS)})`);
    }
    const changedRecord = `changed AS (UPDATE machines SET ${columns.join(', ')}
      WHERE id = ${params.add(machine.id)} AND rev = ${params.add(write.machine.rev)} AND ${fenceClause(params, write.fence)}
      RETURNING ${announcements(params, machine)})`;
    const work = workInserts(params, machine, write.effects, 'changed');
    const ctes = [changedRecord, ...historyInserts(params, machine.id, write.events, write.version, 'changed'), ...(work?.ctes ?? [])];
    const hint = work ? `, (SELECT ${work.hint} FROM changed) AS hint` : '';
    const [row] = await rows<{ n: number }>(this.pool, `WITH ${ctes.join(', ')} SELECT (SELECT count(*)::integer FROM changed) AS n${hint}`, params.values);
    if (row?.n !== 1) throw await refusal(this.pool, write);
    return machine;
  }

  /** A machine destroyed: the record and what goes with it, then its volumes let go, in one transaction. */
  private async commitDestroyed(write: MachineWrite, machine: MachineRecord): Promise<MachineRecord> {
    const params = new Params();
    const update = `UPDATE machines SET ${MACHINE_COLUMNS.map((column, i) => `${column} = ${params.add(machineColumns(machine)[i])}`).join(', ')}
      WHERE id = ${params.add(machine.id)} AND rev = ${params.add(write.machine.rev)} AND ${fenceClause(params, write.fence)}
      RETURNING recent_events, ${announcements(params, machine)}`;
    return transaction(this.pool, async (db) => {
      // The row is locked from here on: the recent events read are the ones replaced.
      const [row] = await rows(db, update, params.values);
      if (!row) throw await refusal(db, write);
      const history = new Params();
      const ctes = historyInserts(history, machine.id, write.events, write.version);
      if (write.events.length > 0) {
        const recent = JSON.stringify(withRecent(readEventsDoc(row.recent_events), write.events));
        await rows(db, `WITH ${ctes.join(', ')} UPDATE machines SET recent_events = ${history.add(recent)} WHERE id = ${history.add(machine.id)}`, history.values);
      } else if (ctes.length > 0) {
        await rows(db, `WITH ${ctes.join(', ')} SELECT 1`, history.values);
      }
      await detachAll(db, machine.id);
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

  async claimWork(host: HostFence, taken: readonly number[], limit: number, acks?: readonly number[]): Promise<QueuedWork[]> {
    return claimWork(this.pool, host, taken, limit, acks);
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

async function nextMachineNumber(db: Sql): Promise<number> {
  const [row] = await rows<{ n: string }>(db, "SELECT nextval('machine_numbers') AS n");
  return Number(row?.n);
}

/**
 * The fence of a machine write, as a condition on its row: none, or the machine on
 * that host while the host holds that epoch. A fenced write waits out a registration
 * of its host under way (which locks FOR UPDATE), then sees its new epoch.
 */
function fenceClause(params: Params, fence: HostFence | undefined): string {
  if (!fence) return 'true';
  const host = params.add(fence.hostId);
  return `(host_id = ${host} AND EXISTS (SELECT 1 FROM hosts WHERE id = ${host} AND epoch = ${params.add(fence.epoch)} FOR KEY SHARE))`;
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
