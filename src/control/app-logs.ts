/**
 * An app's logs as `fly logs` polls them (`GET /api/v1/apps/{app}/logs`): the new
 * console lines of each of its machines since the reader's last poll, found by a
 * cursor per machine (domain/log-cursor.ts) carried in an opaque `next_token`. A
 * token that is not one hangar made reads as none.
 */
import { createHash } from 'node:crypto';
import { cursorAfter, type LineCursor, linesAfter } from '../domain/log-cursor.ts';
import { getApp } from './app-lookup.ts';
import type { ControlDeps } from './ports.ts';

/** Lines of each machine's console read per poll; the first poll gives at most FIRST_LINES of them. */
const TAIL = 500;
const FIRST_LINES = 100;
const MAX_TOKEN = 16 * 1024;

export interface AppLogLine {
  machineId: string;
  region: string;
  message: string;
}

const digest = (line: string) => createHash('sha256').update(line).digest('base64url').slice(0, 16);

function readToken(token: string | undefined): Map<string, LineCursor> | undefined {
  if (!token || token.length > MAX_TOKEN) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const cursors = new Map<string, LineCursor>();
    for (const [id, value] of Object.entries(parsed)) {
      const { n, l, b } = (value ?? {}) as { n?: unknown; l?: unknown; b?: unknown };
      if (typeof l === 'string' && typeof b === 'string') cursors.set(id, { seen: Number.isInteger(n) ? n as number : -1, last: l, before: b });
    }
    return cursors;
  } catch {
    return undefined;
  }
}

function writeToken(cursors: Map<string, LineCursor>): string {
  return Buffer.from(JSON.stringify(Object.fromEntries([...cursors].map(([id, cursor]) => [id, { n: cursor.seen, l: cursor.last, b: cursor.before }])))).toString('base64url');
}

export async function pollAppLogs(deps: ControlDeps, appName: string, query: { token?: string; instance?: string; region?: string }, signal: AbortSignal): Promise<{ lines: AppLogLine[]; token: string }> {
  await getApp(deps, appName);
  const cursors = readToken(query.token);
  const next = new Map<string, LineCursor>();
  const lines: AppLogLine[] = [];
  const machines = (await deps.store.listMachines(appName, {})).map(({ machine }) => machine)
    .filter((machine) => (!query.instance || machine.id === query.instance) && (!query.region || machine.region === query.region));
  for (const machine of machines) {
    const tail: string[] = [];
    try {
      for await (const line of await deps.runtime.guest.logs(machine.id, { tail: TAIL, follow: false }, signal)) tail.push(line);
    } catch {
      // A machine whose console cannot be read now (its host is away) gives nothing this time.
    }
    const cursor = cursors?.get(machine.id);
    const fresh = linesAfter(tail, cursor, digest, TAIL);
    for (const message of cursors ? fresh : fresh.slice(-FIRST_LINES)) lines.push({ machineId: machine.id, region: machine.region, message });
    const after = cursorAfter(tail, cursor, digest, TAIL);
    if (after) next.set(machine.id, after);
  }
  return { lines, token: writeToken(next) };
}
