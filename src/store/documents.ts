/**
 * Reading stored documents back. A row may hold anything (a hand edit, a torn
 * write from a broken disk, an older hangar): a machine document that is not a
 * machine is reported as unreadable and skipped, never thrown at whoever lists.
 */
import type { Ipv4Holders } from '../domain/ipv4.ts';
import type { MachineEvent, MachineRecord } from '../domain/machine.ts';
import type { MachineListing } from './store.ts';

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
