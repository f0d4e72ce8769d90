/**
 * Hosts in PostgreSQL. The identity a host registers is a document; what is
 * decided about it (its epoch, the instance holding it, its state, its heartbeat)
 * is in columns, written by the database's clock (`now()`), so that every process
 * judges a heartbeat by one clock, whatever its own says.
 */
import type { HostIdentity, HostRecord, HostState, HostUsage } from '../../domain/host.ts';
import type { ImageRef } from '../../domain/image-ref.ts';
import type { RegisterOptions } from '../store.ts';
import { HostRefusedError } from '../errors.ts';
import { changed, rows, type Sql, transaction, type Connector } from './connection.ts';
import { heldRepository } from './held-images.ts';

/** A host's columns beside its document, with its heartbeat's age by the database's clock. */
/** Any constant works, as long as every hangar uses the same: "lost" in ASCII. */
const DECLARE_LOCK = 0x6c6f7374;
/** The channel that says a host's state changed (registered, declared lost, forgotten, let rejoin); the payload is its id. */
export const HOST_CHANNEL = 'hangar_host';

const HOST_COLUMNS = `h.doc, h.epoch, h.instance_id, h.state,
  (extract(epoch FROM h.heartbeat_at) * 1000)::float8 AS heartbeat_ms,
  (extract(epoch FROM h.registered_at) * 1000)::float8 AS registered_ms,
  greatest(0, extract(epoch FROM now() - h.heartbeat_at) * 1000)::float8 AS silent_ms`;

interface HostRow {
  doc: string;
  epoch: number;
  instance_id: string;
  state: HostState;
  heartbeat_ms: number;
  registered_ms: number;
  silent_ms: number;
}

function hostFromRow(row: HostRow): HostRecord {
  const doc = JSON.parse(row.doc) as HostRecord;
  return {
    ...doc, epoch: row.epoch, instanceId: row.instance_id, state: row.state,
    heartbeatAt: row.heartbeat_ms, registeredAt: row.registered_ms, silentMs: row.silent_ms,
  };
}

/** The part of a host kept as its document: what it says of itself, and its cordon. */
function hostDoc(host: HostIdentity, cordoned: boolean): string {
  const { id, region, address, hostNumber, ipv4Range, cpus, memoryMb, diskBytes, anyRegion } = host;
  return JSON.stringify({ id, region, address, hostNumber, ipv4Range, cpus, memoryMb, diskBytes, anyRegion, cordoned });
}

export async function registerHost(pool: Connector, host: HostIdentity, options: RegisterOptions): Promise<HostRecord> {
  return transaction(pool, async (db) => {
    // Read before it is locked: a host's own role may not lock a row it may no longer change (forgotten).
    const [state] = await rows<{ state: HostState }>(db, 'SELECT state FROM hosts WHERE id = $1', [host.id]);
    if (state?.state === 'forgotten') throw new HostRefusedError(host.id, 'forgotten');
    const [before] = await rows<HostRow>(db, `SELECT ${HOST_COLUMNS} FROM hosts h WHERE h.id = $1 FOR UPDATE`, [host.id]);
    const previous = before ? hostFromRow(before) : null;
    if (previous?.state === 'forgotten') throw new HostRefusedError(host.id, 'forgotten');
    const heldElsewhere = previous && previous.instanceId !== host.instanceId && previous.state === 'active' && previous.silentMs <= options.freshMs;
    if (heldElsewhere && !options.takeOver) {
      throw new HostRefusedError(host.id, 'held', { instanceId: previous.instanceId, silentMs: previous.silentMs });
    }
    const [row] = await rows<HostRow>(db, `
      INSERT INTO hosts AS h (id, region, any_region, epoch, doc, instance_id, state, heartbeat_at, registered_at)
        VALUES ($1, $2, $3, $4, $5, $6, 'active', now(), now())
      ON CONFLICT (id) DO UPDATE SET region = excluded.region, any_region = excluded.any_region, epoch = excluded.epoch, doc = excluded.doc,
        instance_id = excluded.instance_id, state = 'active', heartbeat_at = now(), registered_at = now()
      RETURNING ${HOST_COLUMNS}, pg_notify('${HOST_CHANNEL}', h.id)`,
    [host.id, host.region, host.anyRegion, (previous?.epoch ?? 0) + 1, hostDoc(host, previous?.cordoned ?? false), host.instanceId]);
    return hostFromRow(row as HostRow);
  });
}


export async function declareLostHosts(pool: Connector, silentMs: number): Promise<HostRecord[]> {
  return transaction(pool, async (db) => {
    const [lock] = await rows<{ held: boolean }>(db, 'SELECT pg_try_advisory_xact_lock($1) AS held', [DECLARE_LOCK]);
    if (!lock?.held) return [];
    const declared = await rows<HostRow>(db, `
      UPDATE hosts h SET state = 'lost', epoch = epoch + 1
      WHERE state = 'active' AND heartbeat_at < now() - make_interval(secs => $1::float8 / 1000)
      RETURNING ${HOST_COLUMNS}, pg_notify('${HOST_CHANNEL}', h.id)`, [silentMs]);
    return declared.map(hostFromRow);
  });
}

export async function setHostState(db: Sql, id: string, from: readonly HostState[], to: HostState): Promise<HostRecord | null> {
  const [row] = await rows<HostRow>(db, `
    UPDATE hosts h SET state = $3, epoch = epoch + 1 WHERE id = $1 AND state = ANY($2::text[])
    RETURNING ${HOST_COLUMNS}, pg_notify('${HOST_CHANNEL}', h.id)`, [id, from, to]);
  return row ? hostFromRow(row) : null;
}

export async function heartbeatHost(db: Sql, id: string, epoch: number): Promise<boolean> {
  return await changed(db, "UPDATE hosts SET heartbeat_at = now() WHERE id = $1 AND epoch = $2 AND state = 'active'", [id, epoch]) === 1;
}

export async function setHostCordoned(db: Sql, id: string, cordoned: boolean): Promise<HostRecord | null> {
  const [row] = await rows<HostRow>(db, `UPDATE hosts h SET doc = jsonb_set(doc::jsonb, '{cordoned}', to_jsonb($2::boolean))::text
    WHERE id = $1 RETURNING ${HOST_COLUMNS}`, [id, cordoned]);
  return row ? hostFromRow(row) : null;
}

/** Every host (or one) with what its machines not destroyed reserve (kept in host_reservations by a trigger). */
export async function hostUsage(db: Sql, onlyHostId?: string): Promise<HostUsage[]> {
  const found = await rows<HostRow & { machines: number; cpus: number; memory_mb: number }>(db, `
    SELECT ${HOST_COLUMNS}, coalesce(r.machines, 0) AS machines, coalesce(r.cpus, 0) AS cpus, coalesce(r.memory_mb, 0) AS memory_mb
    FROM hosts h LEFT JOIN host_reservations r ON r.host_id = h.id
    WHERE $1::text IS NULL OR h.id = $1
    ORDER BY h.id`, [onlyHostId ?? null]);
  return found.map((row) => ({ host: hostFromRow(row), machines: row.machines, reservedCpus: row.cpus, reservedMemoryMb: row.memory_mb }));
}

/**
 * What a placement reads, in one statement: a new machine number, every host with
 * what its machines reserve, and which hosts hold `image` (only an image named by
 * digest can be held: a tag is resolved again at each prepare).
 */
export async function placementView(db: Sql, image?: ImageRef): Promise<{ number: number; hosts: HostUsage[]; holding: Set<string> }> {
  const held = image?.digest ? [heldRepository(image), image.digest] : [null, null];
  const found = await rows<Partial<HostRow> & { number: string; machines: number; cpus: number; memory_mb: number; holds: boolean }>(db, `
    WITH n AS (SELECT nextval($1::regclass) AS number)
    SELECT n.number, ${HOST_COLUMNS}, coalesce(r.machines, 0) AS machines, coalesce(r.cpus, 0) AS cpus, coalesce(r.memory_mb, 0) AS memory_mb,
      EXISTS (SELECT 1 FROM host_images i WHERE i.host_id = h.id AND i.instance_id = h.instance_id AND i.repository = $2 AND i.digest = $3) AS holds
    FROM n LEFT JOIN (hosts h LEFT JOIN host_reservations r ON r.host_id = h.id) ON true
    ORDER BY h.id`, ['machine_numbers', ...held]);
  const hosts: HostUsage[] = [];
  const holding = new Set<string>();
  for (const row of found) {
    if (row.doc == null) continue;
    const host = hostFromRow(row as HostRow);
    hosts.push({ host, machines: row.machines, reservedCpus: row.cpus, reservedMemoryMb: row.memory_mb });
    if (row.holds) holding.add(host.id);
  }
  return { number: Number(found[0]?.number), hosts, holding };
}
