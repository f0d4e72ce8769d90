/** `GET /v1/orgs/{org}/machines`: an organization's machines, oldest update first, in pages. */
import { invalid } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { ControlDeps } from './ports.ts';

export const MAX_ORG_PAGE = 1000;

export interface OrgMachinesInput {
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

export async function listOrgMachines(deps: ControlDeps, orgSlug: string, input: OrgMachinesInput): Promise<OrgMachinesPage> {
  const limit = Math.min(input.limit ?? MAX_ORG_PAGE, MAX_ORG_PAGE);
  let updatedAfter: number | undefined;
  if (input.updatedAfter) {
    updatedAfter = Date.parse(input.updatedAfter);
    if (Number.isNaN(updatedAfter)) throw invalid('updated_after must be an RFC 3339 time');
  }
  const states = input.state ? input.state.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  const machines = await deps.store.listOrgMachines(orgSlug, {
    includeDeleted: input.includeDeleted, region: input.region || undefined, states, updatedAfter, after: decodeCursor(input.cursor), limit,
  });
  const last = machines.at(-1)?.machine;
  const nextCursor = last && machines.length === limit ? encodeCursor(last.updatedAt, last.id) : '';
  return { machines, nextCursor };
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
