/**
 * `GET /v1/orgs/{org}/machines`: an organization's machines in the order of their
 * last commits, oldest first, in pages. The cursor names a place in that order, so a
 * client that pages on while machines change misses no change.
 */
import { invalid } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { ControlDeps } from './ports.ts';

export const MAX_ORG_PAGE = 1000;

/** The query of an organization-wide listing (machines or volumes), as the spec names it. */
export interface OrgListInput {
  includeDeleted?: boolean;
  region?: string;
  state?: string;
  updatedAfter?: string;
  cursor?: string;
  limit?: number;
}

export interface OrgMachinesPage {
  machines: Array<{ machine: MachineRecord; appName: string }>;
  /** Resumes after the last machine of this page; empty when this page was not full. */
  nextCursor: string;
}

/** A place to resume a listing after: the place the store gave (machines), or a time (volumes), and the id. */
export interface ListCursor {
  at: string | number;
  id: string;
}

/** A listing's query checked: the page size (at most 1,000), the filters, and where the cursor resumes. */
export function orgQuery(input: OrgListInput): {
  includeDeleted?: boolean; region?: string; states?: string[]; updatedAfter?: number; cursor?: ListCursor; limit: number;
} {
  const limit = Math.min(input.limit ?? MAX_ORG_PAGE, MAX_ORG_PAGE);
  let updatedAfter: number | undefined;
  if (input.updatedAfter) {
    updatedAfter = Date.parse(input.updatedAfter);
    if (Number.isNaN(updatedAfter)) throw invalid('updated_after must be an RFC 3339 time');
  }
  const states = input.state ? input.state.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  return { includeDeleted: input.includeDeleted, region: input.region || undefined, states, updatedAfter, cursor: decodeCursor(input.cursor), limit };
}

/** The cursor that resumes after `last`, or empty when the page (of `count`) was not full. */
export function nextCursor(last: ListCursor | undefined, count: number, limit: number): string {
  return last && count === limit ? Buffer.from(JSON.stringify([last.at, last.id])).toString('base64url') : '';
}

export async function listOrgMachines(deps: ControlDeps, orgSlug: string, input: OrgListInput): Promise<OrgMachinesPage> {
  const { cursor, ...query } = orgQuery(input);
  if (cursor && typeof cursor.at !== 'string') throw notOurs();
  const after = cursor && { at: cursor.at as string, id: cursor.id };
  const found = await deps.store.listOrgMachines(orgSlug, { ...query, after });
  const last = found.at(-1);
  return {
    machines: found.map(({ machine, appName }) => ({ machine, appName })),
    nextCursor: nextCursor(last && { at: last.at, id: last.machine.id }, found.length, query.limit),
  };
}

function decodeCursor(cursor: string | undefined): ListCursor | undefined {
  if (!cursor) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if ((typeof at === 'number' || typeof at === 'string') && typeof id === 'string') return { at, id };
  } catch {
    // fall through to the error
  }
  throw notOurs();
}

export function notOurs(): Error {
  return invalid('cursor is not one this server gave out');
}
