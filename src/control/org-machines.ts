/** `GET /v1/orgs/{org}/machines`: an organization's machines, oldest update first, in pages. */
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

/** A listing's query checked: the page size (at most 1,000), the filters, and where the cursor resumes. */
export function orgQuery(input: OrgListInput): {
  includeDeleted?: boolean; region?: string; states?: string[]; updatedAfter?: number; after?: { updatedAt: number; id: string }; limit: number;
} {
  const limit = Math.min(input.limit ?? MAX_ORG_PAGE, MAX_ORG_PAGE);
  let updatedAfter: number | undefined;
  if (input.updatedAfter) {
    updatedAfter = Date.parse(input.updatedAfter);
    if (Number.isNaN(updatedAfter)) throw invalid('updated_after must be an RFC 3339 time');
  }
  const states = input.state ? input.state.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  return { includeDeleted: input.includeDeleted, region: input.region || undefined, states, updatedAfter, after: decodeCursor(input.cursor), limit };
}

/** The cursor that resumes after `last`, or empty when the page (of `count`) was not full. */
export function nextCursor(last: { updatedAt: number; id: string } | undefined, count: number, limit: number): string {
  return last && count === limit ? encodeCursor(last.updatedAt, last.id) : '';
}

export async function listOrgMachines(deps: ControlDeps, orgSlug: string, input: OrgListInput): Promise<OrgMachinesPage> {
  const query = orgQuery(input);
  const machines = await deps.store.listOrgMachines(orgSlug, query);
  return { machines, nextCursor: nextCursor(machines.at(-1)?.machine, machines.length, query.limit) };
}

function encodeCursor(updatedAt: number, id: string): string {
  return Buffer.from(JSON.stringify([updatedAt, id])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { updatedAt: number; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [updatedAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof updatedAt === 'number' && typeof id === 'string') return { updatedAt, id };
  } catch {
    // fall through to the error
  }
  throw invalid('cursor is not one this server gave out');
}
