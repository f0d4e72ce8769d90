/**
 * `POST /hangar/v1/apps/{app}/machines/{id}/fork {"count": N}`: N new machines
 * that start from the running machine's memory (control/fork.ts). Answers with the
 * children, each `starting`; wait for `started` as for any start. hangar's own.
 */
import { forkMachine } from '../../control/fork.ts';
import { type ControlDeps, hostStatusOf } from '../../control/ports.ts';
import { machineJson } from '../present.ts';
import { ForkBody, MachineParams } from '../schemas.ts';
import type { Api } from './types.ts';

export function forkRoutes(api: Api, deps: ControlDeps): void {
  api.post('/hangar/v1/apps/:app_name/machines/:machine_id/fork', { schema: { operationId: 'Hangar_machine_fork', tags: ['hangar'], params: MachineParams, body: ForkBody } }, async (request) => {
    const children = await forkMachine(deps, request.params.app_name, request.params.machine_id, request.body ?? {});
    return children.map((child) => machineJson(child, [], { hostStatus: hostStatusOf(deps, child.hostId) }));
  });
}
