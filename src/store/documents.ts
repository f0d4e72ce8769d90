/**
 * Reading stored documents back. A row may hold anything (a hand edit, a torn
 * write from a broken disk, an older hangar): a document that is not the record
 * it should be is reported as unreadable and skipped, never thrown at whoever lists.
 */
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Ipv4Holders } from '../domain/ipv4.ts';
import type { MachineEvent, MachineRecord } from '../domain/machine.ts';
import { EventDoc, ReleaseDoc, SnapshotDoc, VersionDoc, VolumeDoc } from './record-schemas.ts';
import type { HostWork, MachineListing, QueuedWork, UnreadableRecord } from './store.ts';

/** Why a stored machine document cannot be used, or null when it can. */
export function machineDocProblem(text: unknown): string | null {
  const doc = parsed(text);
  if (!isObject(doc)) return 'not a JSON object';
  for (const field of ['id', 'appName', 'name', 'region', 'state', 'desired', 'version', 'privateIp'] as const) {
    if (typeof doc[field] !== 'string') return `${field} is not a string`;
  }
  for (const field of ['config', 'imageRef', 'observed'] as const) {
    if (!isObject(doc[field])) return `${field} is not an object`;
  }
  return null;
}

/** The machine a stored document holds, or null when it holds none. */
export function readMachineDoc(text: unknown): MachineRecord | null {
  return machineDocProblem(text) === null ? (JSON.parse(text as string) as MachineRecord) : null;
}

/** A machine's recent events as stored beside it; unreadable ones read as none. */
export function readEventsDoc(text: unknown): MachineEvent[] {
  const doc = parsed(text);
  return Array.isArray(doc) ? doc.filter(isObject) as unknown as MachineEvent[] : [];
}

/**
 * A piece of host work as its row holds it (`id`, `doc`), with the record of its
 * machine when the row was read joined to it (`machine_id` and `machine`, that
 * record's document). Only the fields of work are taken from the document, so a
 * forged one cannot bring a record of its own; one that does not parse reads as
 * work naming no machine, which the host agent's check refuses.
 */
export function queuedWorkIn(row: Record<string, unknown>): QueuedWork {
  const doc = parsed(row.doc);
  const work = (isObject(doc) ? doc : {}) as Partial<HostWork>;
  const piece: QueuedWork = { id: Number(row.id), hostId: work.hostId as string, rev: work.rev as number, spec: (isObject(work.spec) ? work.spec : {}) as HostWork['spec'], effects: Array.isArray(work.effects) ? work.effects : [] };
  if ('machine' in row && typeof row.machine_id === 'string' && row.machine_id === piece.spec.machineId) piece.machine = readMachineDoc(row.machine);
  return piece;
}

/** The machines these rows (with `doc`) hold; a row that holds none is skipped (see listUnreadableMachines). */
export function machinesIn(rows: Array<Record<string, unknown>>): MachineRecord[] {
  return rows.flatMap((row) => readMachineDoc(row.doc) ?? []);
}

/** The listings these rows (with `doc` and `recent_events`) hold; a row that holds no machine is skipped. */
export function listingsIn(rows: Array<Record<string, unknown>>): MachineListing[] {
  return rows.flatMap((row) => {
    const machine = readMachineDoc(row.doc);
    return machine ? [{ machine, events: readEventsDoc(row.recent_events) }] : [];
  });
}

/** Reads one kind of stored document (not machines: see above). */
export interface DocReader<T> {
  /** Why a stored document cannot be used, or null when it can. */
  problem(text: unknown): string | null;
  /** The record a stored document holds, or null when it holds none. */
  read(text: unknown): T | null;
  /** The records these rows (with `doc`) hold; a row that holds none is skipped. */
  all(rows: Array<Record<string, unknown>>): T[];
}

function docReader<S extends TSchema>(schema: S): DocReader<Static<S>> {
  const compiled = Compile(schema);
  const check = (text: unknown): { doc: Static<S> } | { problem: string } => {
    const doc = parsed(text);
    if (doc === undefined) return { problem: 'not JSON' };
    if (compiled.Check(doc)) return { doc: doc as Static<S> };
    const [first] = compiled.Errors(doc) as unknown as Array<{ instancePath: string; message: string; params: { requiredProperties?: string[] } }>;
    const at = first?.instancePath.slice(1).replaceAll('/', '.') || 'the document';
    const missing = first?.params.requiredProperties;
    return { problem: missing ? `${at} lacks ${missing.join(', ')}` : `${at} ${first?.message ?? 'is not valid'}` };
  };
  const read = (text: unknown) => {
    const checked = check(text);
    return 'doc' in checked ? checked.doc : null;
  };
  return {
    problem: (text) => {
      const checked = check(text);
      return 'problem' in checked ? checked.problem : null;
    },
    read,
    all: (rows) => rows.flatMap((row) => read(row.doc) ?? []),
  };
}

export const volumeDocs = docReader(VolumeDoc);
export const snapshotDocs = docReader(SnapshotDoc);
export const versionDocs = docReader(VersionDoc);
export const eventDocs = docReader(EventDoc);
export const releaseDocs = docReader(ReleaseDoc);

/** The table of each kind of record listUnreadableRecords reports, its primary key and its reader. */
const RECORD_TABLES: Array<{ kind: UnreadableRecord['kind']; table: string; key: string[]; reader: DocReader<unknown> }> = [
  { kind: 'volume', table: 'volumes', key: ['id'], reader: volumeDocs },
  { kind: 'volume_snapshot', table: 'volume_snapshots', key: ['id'], reader: snapshotDocs },
  { kind: 'machine_version', table: 'machine_versions', key: ['machine_id', 'version'], reader: versionDocs },
  { kind: 'machine_event', table: 'machine_events', key: ['id'], reader: eventDocs },
  { kind: 'release', table: 'app_releases', key: ['app_name', 'version'], reader: releaseDocs },
];

/** Rows of a table read at a time by listUnreadableRecords: no table is read into memory at once. */
const UNREADABLE_PAGE = 1000;

/** One page of a table's rows (its key columns and `doc`), in key order, after the key `after` when given. */
export type KeyPage = (table: string, key: string[], after: unknown[] | undefined, limit: number) => Promise<Array<Record<string, unknown>>>;

/** What listUnreadableRecords answers, read through `page`; a version's id is `machineId/version`. */
export async function unreadableRecords(page: KeyPage): Promise<UnreadableRecord[]> {
  const found: UnreadableRecord[] = [];
  for (const { kind, table, key, reader } of RECORD_TABLES) {
    for (let after: unknown[] | undefined; ;) {
      const rows = await page(table, key, after, UNREADABLE_PAGE);
      for (const row of rows) {
        const problem = reader.problem(row.doc);
        if (problem) found.push({ kind, id: key.map((column) => row[column]).join('/'), problem });
      }
      if (rows.length < UNREADABLE_PAGE) break;
      const last = rows.at(-1) as Record<string, unknown>;
      after = key.map((column) => last[column]);
    }
  }
  return found;
}

/**
 * Up to `limit` records read from pages of rows, each page after the last row of
 * the one before: rows that hold no record are skipped without shortening the
 * answer (a short page would read as the last one).
 */
export async function readablePage<R, T>(
  limit: number,
  page: (after: R | undefined, limit: number) => R[] | Promise<R[]>,
  read: (row: R) => T | null,
): Promise<T[]> {
  const found: T[] = [];
  let after: R | undefined;
  while (found.length < limit) {
    const want = limit - found.length;
    const rows = await page(after, want);
    for (const row of rows) {
      const record = read(row);
      if (record !== null) found.push(record);
    }
    if (rows.length < want) break;
    after = rows.at(-1);
  }
  return found;
}

/**
 * What a host's machines hold of its IPv4 range, from their rows: `private_ipv4`,
 * and `doc` where that is null (machines recorded before addresses were, whose
 * number gives theirs). A document that holds no machine holds nothing.
 */
export function ipv4HoldersIn(rows: Array<Record<string, unknown>>): Ipv4Holders {
  const recorded: string[] = [];
  const unrecorded: string[] = [];
  for (const row of rows) {
    if (typeof row.private_ipv4 === 'string') recorded.push(row.private_ipv4);
    else {
      const machine = readMachineDoc(row.doc);
      if (machine) unrecorded.push(machine.privateIp);
    }
  }
  return { recorded, unrecorded };
}

function parsed(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
