/** `/v1/orgs/{org}/machines`: the machines of every app of an organization. */
import { listOrgMachines } from '../../control/org-machines.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { OrgMachinesQuery, OrgParams } from '../schemas.ts';
import type { Api } from './types.ts';

export function orgRoutes(api: Api, deps: ControlDeps): void {
  api.get('/v1/orgs/:org_slug/machines', { schema: { operationId: 'Machines_org_list', tags: ['Machines'], params: OrgParams, querystring: OrgMachinesQuery } }, async (request) => {
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
      created_at: new Date(machine.createdAt).toISOString(),
      updated_at: new Date(machine.updatedAt).toISOString(),
      ...(q.summary ? {} : { config: { image: machine.config.image, guest: machine.config.guest, metadata: machine.config.metadata ?? {} } }),
    }));
    const last = machines.at(-1);
    return { machines, next_cursor: page.nextCursor, last_machine_id: last?.id ?? '', last_updated_at: last?.updated_at ?? '' };
  });
}
