/** The embedded store's hosts and the apps' host ports (see sqlite-store.ts). */
import type { HostIdentity, HostRecord, HostState, HostUsage } from '../../domain/host.ts';
import type { Effect } from '../../domain/lifecycle/decision.ts';
import type { MachineRecord } from '../../domain/machine.ts';
import { specOf } from '../../domain/runtime.ts';
import type { HostFence, HostWork, PublicPortRecord, QueuedWork, RegisterOptions } from '../store.ts';
import { HostRefusedError } from '../errors.ts';
import { queuedWorkIn } from '../documents.ts';
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

  async registerHost(host: HostIdentity, options: RegisterOptions): Promise<HostRecord> {
    return this.transaction(() => {
      const before = this.sql(`SELECT ${HOST_COLUMNS} FROM hosts h WHERE h.id = ?`).get(host.id) as Row | undefined;
      const previous = before ? hostFromRow(before) : null;
      if (previous?.state === 'forgotten') throw new HostRefusedError(host.id, 'forgotten');
      const heldElsewhere = previous && previous.instanceId !== host.instanceId && previous.state === 'active' && previous.silentMs <= options.freshMs;
      if (heldElsewhere && !options.takeOver) throw new HostRefusedError(host.id, 'held', { instanceId: previous.instanceId, silentMs: previous.silentMs });
      this.sql(`INSERT INTO hosts (id, doc, epoch, instance_id, state, heartbeat_at, registered_at) VALUES (?, ?, ?, ?, 'active', ${NOW_MS}, ${NOW_MS})
        ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, epoch = excluded.epoch, instance_id = excluded.instance_id, state = 'active',
          heartbeat_at = excluded.heartbeat_at, registered_at = excluded.registered_at`)
        .run(host.id, hostDoc(host, previous?.cordoned ?? false), (previous?.epoch ?? 0) + 1, host.instanceId);
      return hostFromRow(this.sql(`SELECT ${HOST_COLUMNS} FROM hosts h WHERE h.id = ?`).get(host.id) as Row);
    });
  }

  async heartbeatHost(id: string, epoch: number): Promise<boolean> {
    return this.sql(`UPDATE hosts SET heartbeat_at = ${NOW_MS} WHERE id = ? AND epoch = ? AND state = 'active'`).run(id, epoch).changes === 1;
  }

  async setHostCordoned(id: string, cordoned: boolean): Promise<HostRecord | null> {
    this.sql("UPDATE hosts SET doc = json_set(doc, '$.cordoned', json(?)) WHERE id = ?").run(cordoned ? 'true' : 'false', id);
    const row = this.sql(`SELECT ${HOST_COLUMNS} FROM hosts h WHERE h.id = ?`).get(id) as Row | undefined;
    return row ? hostFromRow(row) : null;
  }

  async declareLostHosts(silentMs: number): Promise<HostRecord[]> {
    return this.transaction(() => {
      const ids = this.sql(`UPDATE hosts SET state = 'lost', epoch = epoch + 1 WHERE state = 'active' AND heartbeat_at < ${NOW_MS} - ? RETURNING id`)
        .all(silentMs) as Row[];
      return ids.map((row) => hostFromRow(this.sql(`SELECT ${HOST_COLUMNS} FROM hosts h WHERE h.id = ?`).get(row.id as string) as Row));
    });
  }

  async setHostState(id: string, from: readonly HostState[], to: HostState): Promise<HostRecord | null> {
    return this.transaction(() => {
      const current = this.sql('SELECT state FROM hosts WHERE id = ?').get(id) as Row | undefined;
      if (!current || !from.includes(current.state as HostState)) return null;
      this.sql('UPDATE hosts SET state = ?, epoch = epoch + 1 WHERE id = ?').run(to, id);
      return hostFromRow(this.sql(`SELECT ${HOST_COLUMNS} FROM hosts h WHERE h.id = ?`).get(id) as Row);
    });
  }

  async dropHostWork(hostId: string): Promise<number> {
    return Number(this.sql('DELETE FROM host_work WHERE host_id = ?').run(hostId).changes);
  }

  async claimWork(host: HostFence, taken: readonly number[], limit: number, acks: readonly number[] = []): Promise<QueuedWork[]> {
    await this.ackWork(host, acks);
    const rows = this.sql(`SELECT id, doc FROM host_work WHERE host_id = ?1 AND id NOT IN (SELECT value FROM json_each(?3)) AND ${HOLDS} ORDER BY id LIMIT ?4`)
      .all(host.hostId, host.epoch, JSON.stringify(taken), limit) as Row[];
    return rows.map(queuedWorkIn);
  }

  async ackWork(host: HostFence, ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    this.transaction(() => {
      if (!this.sql(`SELECT 1 WHERE ${HOLDS}`).get(host.hostId, host.epoch)) return;
      const remove = this.sql('DELETE FROM host_work WHERE host_id = ? AND id = ?');
      for (const id of ids) remove.run(host.hostId, id);
    });
  }

  /** Queues `effects` for `machine`'s host, inside the caller's transaction. */
  protected queueEffects(machine: MachineRecord, effects: Effect[] | undefined): void {
    if (!effects?.length) return;
    if (!machine.hostId) throw new Error(`machine ${machine.id} has no host to run its effects`);
    const work: HostWork = { hostId: machine.hostId, rev: machine.rev, spec: specOf(machine), effects };
    this.sql('INSERT INTO host_work (host_id, machine_id, doc) VALUES (?, ?, ?)').run(machine.hostId, machine.id, JSON.stringify(work));
  }

  async listHostUsage(): Promise<HostUsage[]> {
    return this.hostUsage();
  }

  async getHost(id: string): Promise<HostUsage | null> {
    return this.hostUsage(id)[0] ?? null;
  }

  protected hostUsage(onlyId: string | null = null): HostUsage[] {
    const rows = this.sql(`
      SELECT ${HOST_COLUMNS}, count(m.id) AS machines, coalesce(sum(m.cpus), 0) AS cpus, coalesce(sum(m.memory_mb), 0) AS memory_mb
      FROM hosts h LEFT JOIN machines m ON m.host_id = h.id AND m.state <> 'destroyed'
      WHERE ?1 IS NULL OR h.id = ?1
      GROUP BY h.id ORDER BY h.id`).all(onlyId) as Row[];
    return rows.map((row) => ({
      host: hostFromRow(row),
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

/** The fence of a host's reads and acknowledgements of its queue (parameters 1 and 2: its id and epoch). */
const HOLDS = "EXISTS (SELECT 1 FROM hosts WHERE id = ?1 AND epoch = ?2 AND state = 'active')";

/** Now in unix ms by SQLite's clock: one process, one clock, as PostgreSQL's `now()` is for a cluster. */
const NOW_MS = "((julianday('now') - 2440587.5) * 86400000.0)";

/** A host's columns beside its document, with its heartbeat's age. */
const HOST_COLUMNS = `h.doc, h.epoch, h.instance_id, h.state, h.heartbeat_at, h.registered_at, max(0, ${NOW_MS} - h.heartbeat_at) AS silent_ms`;

function hostFromRow(row: Row): HostRecord {
  const doc = JSON.parse(row.doc as string) as HostRecord;
  return {
    ...doc, epoch: Number(row.epoch), instanceId: row.instance_id as string, state: row.state as HostState,
    heartbeatAt: Number(row.heartbeat_at), registeredAt: Number(row.registered_at), silentMs: Number(row.silent_ms),
  };
}

/** The part of a host kept as its document: what it says of itself, and its cordon. */
function hostDoc(host: HostIdentity, cordoned: boolean): string {
  const { id, region, address, hostNumber, ipv4Range, cpus, memoryMb, diskBytes, anyRegion } = host;
  return JSON.stringify({ id, region, address, hostNumber, ipv4Range, cpus, memoryMb, diskBytes, anyRegion, cordoned });
}

function publicPort(row: Row): PublicPortRecord {
  return { appName: row.app_name as string, port: row.port as number, hostPort: row.host_port as number };
}
