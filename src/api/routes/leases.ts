/** `…/lease`: acquire or refresh (POST), show (GET), release (DELETE). Answers are wrapped, as Fly's are. */
import { acquireMachineLease, releaseMachineLease, showMachineLease } from '../../control/leases.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { leaseJson } from '../present.ts';
import { LeaseSchema } from '../responses.ts';
import { LeaseBody, LeaseQuery, MachineParams } from '../schemas.ts';
import { type Api, leaseNonce } from './types.ts';

const tags = ['Machines'];

export function leaseRoutes(api: Api, deps: ControlDeps): void {
  api.post('/v1/apps/:app_name/machines/:machine_id/lease', { schema: { operationId: 'Machines_create_lease', tags, params: MachineParams, querystring: LeaseQuery, body: LeaseBody, response: { 201: LeaseSchema } } }, async (request, reply) => {
    const body = request.body ?? {};
    const lease = await acquireMachineLease(deps, request.params.app_name, request.params.machine_id, {
      ttl: body.ttl ?? request.query.ttl,
      description: body.description,
      nonce: leaseNonce(request),
    });
    return reply.status(201).send(leaseJson(lease));
  });

  api.get('/v1/apps/:app_name/machines/:machine_id/lease', { schema: { operationId: 'Machines_show_lease', tags, params: MachineParams, response: { 200: LeaseSchema } } }, async (request) => {
    return leaseJson(await showMachineLease(deps, request.params.app_name, request.params.machine_id));
  });

  api.delete('/v1/apps/:app_name/machines/:machine_id/lease', { schema: { operationId: 'Machines_release_lease', tags, params: MachineParams } }, async (request) => {
    await releaseMachineLease(deps, request.params.app_name, request.params.machine_id, leaseNonce(request));
    return { status: 'success', data: { ok: true } };
  });
}
