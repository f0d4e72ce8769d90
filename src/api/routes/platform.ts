/**
 * `/v1/platform`: the regions this hangar serves and machine placements on this
 * host; `/v1/apps/{app}/ip_assignments`: the app's public addresses (the edge proxy's).
 */
import { assignIp, listIpAssignments, releaseIp } from '../../control/ip-assignments.ts';
import { listRegions, placeMachines } from '../../control/platform.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { AssignIpBody, IpParams, PlacementsBody } from '../platform-schemas.ts';
import { ipAssignmentJson, regionJson } from '../present.ts';
import { AppParams } from '../schemas.ts';
import type { Api } from './types.ts';

export function platformRoutes(api: Api, deps: ControlDeps): void {
  api.get('/v1/platform/regions', { schema: { operationId: 'Platform_regions_get', tags: ['Platform'] } }, async () => {
    const { regions, nearest } = await listRegions(deps);
    return { regions: regions.map(regionJson), nearest };
  });

  api.post('/v1/platform/placements', { schema: { operationId: 'Platform_placements_post', tags: ['Platform'], body: PlacementsBody } }, async (request) => {
    const placements = await placeMachines(deps, request.body);
    return { regions: placements.map(({ region, count }) => ({ region, count, concurrency: count })) };
  });

  const tags = ['Apps'];
  api.get('/v1/apps/:app_name/ip_assignments', { schema: { operationId: 'App_IPAssignments_list', tags, params: AppParams } }, async (request) => {
    return { ips: (await listIpAssignments(deps, request.params.app_name)).map(ipAssignmentJson) };
  });

  api.post('/v1/apps/:app_name/ip_assignments', { schema: { operationId: 'App_IPAssignments_create', tags, params: AppParams, body: AssignIpBody } }, async (request) => {
    return ipAssignmentJson(await assignIp(deps, request.params.app_name, request.body));
  });

  api.delete('/v1/apps/:app_name/ip_assignments/:ip', { schema: { operationId: 'App_IPAssignments_delete', tags, params: IpParams } }, async (request) => {
    return releaseIp(deps, request.params.app_name, request.params.ip);
  });
}
