/**
 * SQL pieces for machines in PostgreSQL: the columns written beside a machine's
 * document, and the WHERE clauses of listings, built with numbered parameters only.
 */
import { reservationOf } from '../../domain/host.ts';
import type { MachineEvent, MachineRecord, MachineVersion } from '../../domain/machine.ts';
import type { MachineFilter } from '../store.ts';

/** How many of a machine's newest events ride along with it in listings. */
export const RECENT_EVENTS = 10;

/** States in which a machine's VM may still exist. */
export const NOT_LIVE = "('destroyed', 'replaced', 'migrated')";

/** Collects parameter values; `add` answers the placeholder that stands for one. */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * A machine's metadata as the `metadata` column holds it: each pair as the JSON text of
 * `[key, value]`, so that a filter is an exact match of strings (`@>`) whatever the
 * pair holds.
 */
export function metadataPairs(metadata: Record<string, unknown> | undefined): string[] {
  return Object.entries(metadata ?? {}).map((pair) => JSON.stringify(pair));
}

/** The columns a machine's row holds beside its document, in the order of MACHINE_COLUMNS. */
export function machineColumns(machine: MachineRecord): unknown[] {
  return [
    machine.state, machine.rev, machine.updatedAt, metadataPairs(machine.config.metadata), JSON.stringify(machine),
    reservationOf(machine.config).cpus, reservationOf(machine.config).memoryMb,
  ];
}

export const MACHINE_COLUMNS = ['state', 'rev', 'updated_at', 'metadata', 'doc', 'cpus', 'memory_mb'] as const;

/** `recent` (newest first, as stored) with `events` (oldest first, as written) in front, cut to RECENT_EVENTS. */
export function withRecent(recent: MachineEvent[], events: MachineEvent[]): MachineEvent[] {
  return [...[...events].reverse(), ...recent].slice(0, RECENT_EVENTS);
}

/**
 * Common table expressions inserting what a machine write holds beside the record: its
 * events and its new version, if any; so that the record's statement or the one after
 * it carries them, not a round trip each. With `after`, the name of a CTE, they are
 * inserted once per row it returns: not at all when the record's write changed nothing.
 */
export function historyInserts(params: Params, machineId: string, events: MachineEvent[], version: MachineVersion | undefined, after?: string): string[] {
  const ctes: string[] = [];
  const from = after ? ` FROM ${after}` : '';
  if (version) {
    ctes.push(`new_version AS (INSERT INTO machine_versions (machine_id, version, doc)
      SELECT ${params.add(version.machineId)}, ${params.add(version.version)}, ${params.add(JSON.stringify(version))}${from})`);
  }
  if (events.length > 0) {
    const ids = params.add(events.map((event) => event.id));
    const docs = params.add(events.map((event) => JSON.stringify(event)));
    ctes.push(`new_events AS (INSERT INTO machine_events (id, machine_id, doc)
      SELECT e.id, ${params.add(machineId)}, e.doc FROM ${after ? `${after}, ` : ''}unnest(${ids}::text[], ${docs}::text[]) WITH ORDINALITY AS e (id, doc, n) ORDER BY e.n)`);
  }
  return ctes;
}

/** The WHERE clause of an app's listing (`m` is the machines table). */
export function machineWhere(params: Params, appName: string, filter: MachineFilter): string {
  return [`m.app_name = ${params.add(appName)}`, ...filterClauses(params, filter)].join(' AND ');
}

/** Clauses for a filter's fields, shared by app and organization listings. */
export function filterClauses(params: Params, filter: MachineFilter): string[] {
  const clauses: string[] = [];
  if (!filter.includeDeleted) clauses.push("m.state <> 'destroyed'");
  if (filter.region) clauses.push(`m.region = ${params.add(filter.region)}`);
  if (filter.states?.length) clauses.push(`m.state = ANY(${params.add(filter.states)}::text[])`);
  const pairs = metadataPairs(filter.metadata);
  if (pairs.length > 0) clauses.push(`m.metadata @> ${params.add(pairs)}::text[]`);
  return clauses;
}
