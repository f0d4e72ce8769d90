/**
 * `GET /v1/orgs/{org}/volumes`: the volumes of every app of an organization, in
 * the order of their last commits (a volume changes when it is made, updated,
 * extended, attached, let go of or deleted), oldest first, in pages with the
 * machine listing's cursor: a client that pages on while volumes change misses
 * no change.
 */
import type { VolumeRecord } from '../domain/volume.ts';
import { nextCursor, notOurs, type OrgListInput, orgQuery } from './org-machines.ts';
import type { ControlDeps } from './ports.ts';

export interface OrgVolumesPage {
  volumes: VolumeRecord[];
  /** Resumes after the last volume of this page; empty when this page was not full. */
  nextCursor: string;
}

export async function listOrgVolumes(deps: ControlDeps, orgSlug: string, input: OrgListInput): Promise<OrgVolumesPage> {
  const { cursor, ...query } = orgQuery(input);
  if (cursor && typeof cursor.at !== 'string') throw notOurs();
  const after = cursor && { at: cursor.at as string, id: cursor.id };
  const found = await deps.store.listOrgVolumes(orgSlug, { ...query, after });
  const last = found.at(-1);
  return { volumes: found.map(({ volume }) => volume), nextCursor: nextCursor(last && { at: last.at, id: last.volume.id }, found.length, query.limit) };
}
