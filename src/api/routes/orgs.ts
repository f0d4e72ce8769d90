/** `/v1/orgs/{org}/machines` and `/v1/orgs/{org}/volumes`: the machines and volumes of every app of an organization. */
import { listOrgMachines } from '../../control/org-machines.ts';
import { listOrgVolumes } from '../../control/org-volumes.ts';
import { type ControlDeps, hostStatusOf } from '../../control/ports.ts';
import { volumeUpdatedAt } from '../../domain/volume.ts';
import { volumeJson } from '../present.ts';
import { OrgListQuery, OrgParams } from '../schemas.ts';
import type { Api } from './types.ts';

const iso = (ms: number) => new Date(ms).toISOString();

export function orgRoutes(api: Api, deps: ControlDeps): void {
  api.get('/v1/orgs/:org_slug/machines', { schema: { operationId: 'Machines_org_list', tags: ['Machines'], params: OrgParams, querystring: OrgListQuery } }, async (request) => {
    const q = request.query;
    const page = await listOrgMachines(deps, request.params.org_slug, {
      includeDeleted: q.include_deleted, region: q.region, state: q.state, updatedAfter: q.updated_after, cursor: q.cursor, limit: q.limit,
    });
    const machines = page.machines.map(({ machine, appName }) => ({
      id: machine.id,
      name: machine.name,
      app_name: appName,
      state: machine.state,
      region: machine.region,
      private_ip: machine.privateIp,
      version: machine.version,
      created_at: iso(machine.createdAt),
      updated_at: iso(machine.updatedAt),
      ...(q.summary ? {} : { config: { image: machine.config.image, guest: machine.config.guest, metadata: machine.config.metadata ?? {} } }),
    }));
    const last = machines.at(-1);
    return { machines, next_cursor: page.nextCursor, last_machine_id: last?.id ?? '', last_updated_at: last?.updated_at ?? '' };
  });

  // `summary` leaves out blocks and byte counts, which hangar does not report in any answer: it changes nothing.
  api.get('/v1/orgs/:org_slug/volumes', { schema: { operationId: 'Volumes_org_list', tags: ['Volumes'], params: OrgParams, querystring: OrgListQuery } }, async (request) => {
    const q = request.query;
    const page = await listOrgVolumes(deps, request.params.org_slug, {
      includeDeleted: q.include_deleted, region: q.region, state: q.state, updatedAfter: q.updated_after, cursor: q.cursor, limit: q.limit,
    });
    const volumes = page.volumes.map((volume) => ({
      ...volumeJson(volume, hostStatusOf(deps, volume.hostId)),
      app_name: volume.appName,
      updated_at: iso(volumeUpdatedAt(volume)),
    }));
    const last = page.volumes.at(-1);
    return { volumes, next_cursor: page.nextCursor, last_volume_id: last?.id ?? '', last_updated_at: last ? iso(volumeUpdatedAt(last)) : '' };
  });
}
