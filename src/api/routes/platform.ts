/** `/v1/platform`: the regions this hangar serves and machine placements on this host. */
import { listRegions, placeMachines } from '../../control/platform.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { PlacementsBody } from '../platform-schemas.ts';
import { regionJson } from '../present.ts';
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
}
