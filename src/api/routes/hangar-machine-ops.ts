/**
 * hangar's own machine operations beyond Fly's API:
 * - `POST /hangar/v1/apps/{app}/machines/{id}/fork {"count": N}`: N new machines
 *   that start from the running machine's memory (control/fork.ts). Answers with the
 *   children, each `starting`; wait for `started` as for any start.
 * - `POST /hangar/v1/apps/{app}/machines/{id}/move {"host": …}` or `{"region": …}`,
 *   and `"suspend": true` or `"stop": true` for a started machine: the machine moved
 *   to another host of the cluster, a suspended one with its snapshot
 *   (control/move.ts). Answers with the machine as it is after the move.
 */
import { forkMachine } from '../../control/fork.ts';
import { moveMachine } from '../../control/move.ts';
import { type ControlDeps, hostStatusOf } from '../../control/ports.ts';
import { machineJson } from '../present.ts';
import { ForkBody, MachineParams, MoveBody } from '../schemas.ts';
import type { Api } from './types.ts';

export function hangarMachineRoutes(api: Api, deps: ControlDeps): void {
  api.post('/hangar/v1/apps/:app_name/machines/:machine_id/fork', { schema: { operationId: 'Hangar_machine_fork', tags: ['hangar'], params: MachineParams, body: ForkBody } }, async (request) => {
    const children = await forkMachine(deps, request.params.app_name, request.params.machine_id, request.body ?? {});
    return children.map((child) => machineJson(child, [], { hostStatus: hostStatusOf(deps, child.hostId) }));
  });

  api.post('/hangar/v1/apps/:app_name/machines/:machine_id/move', { schema: { operationId: 'Hangar_machine_move', tags: ['hangar'], params: MachineParams, body: MoveBody } }, async (request) => {
    const { host, region, suspend, stop } = request.body;
    const moved = await moveMachine(deps, request.params.app_name, request.params.machine_id, { host, region, suspend, stop });
    return machineJson(moved, [], { hostStatus: hostStatusOf(deps, moved.hostId) });
  });
}
