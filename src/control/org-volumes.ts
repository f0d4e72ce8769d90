/**
 * `GET /v1/orgs/{org}/volumes`: the volumes of every app of an organization,
 * oldest change first (a volume changes when it is made, updated, extended,
 * attached, let go of or deleted), in pages with the machine listing's cursor.
 */
import { volumeUpdatedAt, type VolumeRecord } from '../domain/volume.ts';
import { nextCursor, notOurs, type OrgListInput, orgQuery } from './org-machines.ts';
import type { ControlDeps } from './ports.ts';

export interface OrgVolumesPage {
  volumes: VolumeRecord[];
  /** Resumes after the last volume of this page; empty when this page was not full. */
  nextCursor: string;
}

export async function listOrgVolumes(deps: ControlDeps, orgSlug: string, input: OrgListInput): Promise<OrgVolumesPage> {
  const { cursor, ...query } = orgQuery(input);
  if (cursor && typeof cursor.at !== 'number') throw notOurs();
  const after = cursor && { updatedAt: cursor.at as number, id: cursor.id };
  const volumes = await deps.store.listOrgVolumes(orgSlug, { ...query, after });
  const last = volumes.at(-1);
  return { volumes, nextCursor: nextCursor(last && { at: volumeUpdatedAt(last), id: last.id }, volumes.length, query.limit) };
}
