/**
 * A machine's insert in PostgreSQL: its host chosen from a read of every host's
 * room, then the rest in one statement (hangar_insert_machine, see the migrations),
 * or, onto a host with machines recorded before addresses were, in a transaction
 * of several round trips. See PostgresStore.insertMachine and Store.insertMachine.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { HangarError } from '../../domain/errors.ts';
import { allocateIpv4, hostIpv4Range, type HostUsage, reservationOf, roomLimits, withinRoom } from '../../domain/host.ts';
import { formatIpv4, machineSlots } from '../../domain/ipv4.ts';
import type { MachineRecord } from '../../domain/machine.ts';
import { specOf } from '../../domain/runtime.ts';
import { ipv4HoldersIn } from '../documents.ts';
import type { HostWork, MachineInsert, Placer } from '../store.ts';
import { AppGoneError, DuplicateError, LimitError } from '../errors.ts';
import { announcements, hostChannel } from './channels.ts';
import { isUniqueViolation, rows, type Sql, transaction } from './connection.ts';
import { workInserts } from './host-work.ts';
import { hostUsage, placementView } from './hosts.ts';
import { historyInserts, machineColumns, Params, withRecent } from './machine-sql.ts';

export async function insertMachine(pool: Pool, write: MachineInsert, maxLive = Infinity, place?: Placer): Promise<MachineRecord> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await tryInsertMachine(pool, write, maxLive, place);
    } catch (error) {
      // Another create took the room of the host this one chose: choose again.
      if (!(error instanceof HostTaken) || attempt >= PLACEMENT_ATTEMPTS) throw error instanceof HostTaken ? error.cause ?? error : error;
    }
  }
}

/**
 * One insert, in two round trips: the host is chosen from a read of every host's
 * room (with the machine's number), then one statement, a transaction of its own,
 * does the rest (hangar_insert_machine, a migration). It locks the app's row (a
 * share lock) and counts the app's machines against its limit, then locks the
 * chosen host's reservation row and checks its room again, chooses the machine's
 * IPv4 address (the lowest its host's machines leave free) and writes the machine,
 * its history and its host's work; each read sees what committed before its lock
 * was granted, so a create racing for the same room finds it gone (HostTaken) and
 * chooses again, and no two creates take the same address. The locks are held
 * from there until the commit only.
 *
 * The same read says which hosts hold the machine's image (see held-images.ts):
 * placed on one of them, the machine is inserted as `write.ifImageHeld` makes it.
 *
 * The address is written into the machine's document and its work where a
 * placeholder, drawn at random for this insert, stands for it. A host with
 * machines recorded before addresses were (whose number gives theirs) takes the
 * insert in a transaction of several round trips instead (insertInTransaction).
 */
async function tryInsertMachine(pool: Pool, write: MachineInsert, maxLive: number, place?: Placer): Promise<MachineRecord> {
  const { number, hosts, holding } = place ? await placementView(pool, write.ifImageHeld && write.machine.imageRef) : { number: 0, hosts: [], holding: new Set<string>() };
  const placed = place ? place(write.machine, hosts, number) : write.machine;
  const usage = place && placed.hostId !== undefined ? hosts.find((candidate) => candidate.host.id === placed.hostId) : undefined;
  if (place && placed.hostId !== undefined && !usage) throw new HostTaken(`host ${placed.hostId} is gone`);
  const { machine: chosen, events, effects } = write.ifImageHeld && placed.hostId !== undefined && holding.has(placed.hostId)
    ? write.ifImageHeld(placed) : { ...write, machine: placed };
  const range = usage ? hostIpv4Range(usage.host) : undefined;
  const placeholder = range ? `hangar-ipv4-${randomBytes(16).toString('hex')}` : undefined;
  const machine: MachineRecord = { ...chosen, ...(placeholder ? { privateIpv4: placeholder } : {}), rev: 1 };
  const limits = usage ? roomLimits(usage.host, reservationOf(machine.config)) : undefined;
  const work: HostWork | null = effects?.length && machine.hostId
    ? { hostId: machine.hostId, rev: machine.rev, spec: specOf(machine), effects } : null;
  if (effects?.length && !work) throw new Error(`machine ${machine.id} has no host to run its effects`);
  const [state, , updatedAt, metadata, doc, cpus, memoryMb] = machineColumns(machine);
  let row: { outcome: string; ipv4: string | null; live: number | null } | undefined;
  try {
    [row] = await rows<{ outcome: string; ipv4: string | null; live: number | null }>(pool, `SELECT outcome, ipv4, live FROM hangar_insert_machine(${Array.from({ length: 29 }, (_, i) => `$${i + 1}`).join(', ')})`, [
      machine.appName, write.appId ?? null, Number.isFinite(maxLive) ? maxLive : null, LIMIT_SLACK,
      usage !== undefined, usage?.host.epoch ?? null, limits?.machines ?? null, limits?.cpus ?? null, limits?.memoryMb ?? null,
      range ? formatIpv4(range.base) : null, range ? machineSlots(range) : null, placeholder ? JSON.stringify(placeholder) : null,
      machine.id, machine.name, machine.region, state, updatedAt, metadata, doc, cpus, memoryMb, JSON.stringify(withRecent([], events)),
      machine.hostId ?? null, write.version.version, JSON.stringify(write.version),
      events.map((event) => event.id), events.map((event) => JSON.stringify(event)), work ? JSON.stringify(work) : null,
      work ? hostChannel('work', work.hostId) : null,
    ]);
  } catch (error) {
    throw duplicateName(error, machine) ?? error;
  }
  switch (row?.outcome) {
    case 'ok':
      return placeholder ? { ...machine, privateIpv4: row.ipv4 ?? undefined } : machine;
    case 'missing':
    case 'deleting':
    case 'replaced':
      throw new AppGoneError(machine.appName, row.outcome);
    case 'limit':
      throw new LimitError(`app ${machine.appName} has ${row.live} machines; an app may have at most ${maxLive} machines`);
    case 'host_changed':
      throw new HostTaken(`host ${machine.hostId} registered again or was declared lost`);
    case 'full':
      throw hostFull(machine.hostId);
    case 'unaddressed':
      return insertInTransaction(pool, write, maxLive, place, placed);
    default:
      throw new Error(`inserting machine ${machine.id} answered ${JSON.stringify(row?.outcome)}`);
  }
}

/**
 * An insert onto a host with machines recorded before addresses were: in a
 * transaction, the host's reservation row locked, then the address chosen from a
 * read of every address its machines hold, those machines' derived ones included.
 */
async function insertInTransaction(pool: Pool, write: MachineInsert, maxLive: number, place: Placer | undefined, chosen: MachineRecord): Promise<MachineRecord> {
  return transaction(pool, async (db) => {
    // A share lock on the app: a deletion waits for this insert, other inserts do not.
    const [app] = await rows<{ deleting: boolean; id: string }>(db, 'SELECT deleting, id FROM apps WHERE name = $1 FOR SHARE', [write.machine.appName]);
    if (!app) throw new AppGoneError(write.machine.appName, 'missing');
    if (app.deleting) throw new AppGoneError(write.machine.appName, 'deleting');
    if (write.appId !== undefined && app.id !== write.appId) throw new AppGoneError(write.machine.appName, 'replaced');
    if (Number.isFinite(maxLive)) await checkLiveLimit(db, write.machine.appName, maxLive);
    const hosts = place ? await hostUsage(db) : [];
    const machine = { ...(place && chosen.hostId ? await holdPlace(db, chosen, hosts) : chosen), rev: 1 };
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
      const announce = announcements(params, machine, `${machine.id}:${machine.rev}`);
      await rows(db, `WITH ${ctes.join(', ')} SELECT ${work ? `${work.hint}, ` : ''}${announce}`, params.values);
    } catch (error) {
      throw duplicateName(error, machine) ?? error;
    }
    return machine;
  });
}

/** Times a create chooses a host again after another create took the room of its first choice. */
const PLACEMENT_ATTEMPTS = 5;
/** Below this many machines short of its limit, an app's inserts count without waiting for each other. */
const LIMIT_SLACK = 64;

/** The host chosen first had no room left once locked (another create took it); the choice made then is the cause. */
class HostTaken extends Error {}

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
 * the commit. Under it, checks the machine still fits there given the host's room as
 * it is now (or HostTaken), and gives `placed` the lowest IPv4 address of the host's
 * range that its machines leave free: each statement after the lock sees every
 * create that held it before.
 */
export async function holdPlace(db: Sql, placed: MachineRecord, hosts: HostUsage[]): Promise<MachineRecord> {
  const chosen = hosts.find((usage) => usage.host.id === placed.hostId);
  if (!chosen) throw new HostTaken(`host ${placed.hostId} is gone`);
  const [room] = await rows<{ machines: number; cpus: number; memory_mb: number }>(db, `
    INSERT INTO host_reservations AS r (host_id, machines, cpus, memory_mb) VALUES ($1, 0, 0, 0)
    ON CONFLICT (host_id) DO UPDATE SET machines = r.machines
    RETURNING r.machines, r.cpus, r.memory_mb`, [chosen.host.id]);
  const now = { machines: room?.machines ?? 0, reservedCpus: room?.cpus ?? 0, reservedMemoryMb: room?.memory_mb ?? 0 };
  if (!withinRoom(now, roomLimits(chosen.host, reservationOf(placed.config)))) throw hostFull(chosen.host.id);
  const holders = await rows(db, `SELECT private_ipv4, CASE WHEN private_ipv4 IS NULL THEN doc END AS doc FROM machines
    WHERE host_id = $1 AND state <> 'destroyed'`, [chosen.host.id]);
  const privateIpv4 = allocateIpv4(chosen.host, ipv4HoldersIn(holders));
  return privateIpv4 === undefined ? placed : { ...placed, privateIpv4 };
}

/** The host chosen had no room left once locked: chosen again from a fresh read, which says what is full. */
function hostFull(hostId: string | undefined): HostTaken {
  return new HostTaken('the host chosen is full now', { cause: new HangarError('insufficient_capacity', `insufficient resources to create machine: host ${hostId} is full`) });
}

/** A DuplicateError for an insert refused for its machine's name, else undefined. */
function duplicateName(error: unknown, machine: MachineRecord): DuplicateError | undefined {
  if (!isUniqueViolation(error) || (error as { constraint?: unknown }).constraint !== 'machine_names') return undefined;
  return new DuplicateError('machine_name', `a machine named "${machine.name}" already exists in app ${machine.appName}`);
}
