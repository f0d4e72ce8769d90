/** `/v1/apps/{app}/machines`: list, create, show, update, destroy, events, versions. */
import { Type } from 'typebox';
import { destroyMachine, updateMachine } from '../../control/actions.ts';
import { createMachine, getMachine, listEvents, listMachineRevs, listMachines, listVersions } from '../../control/machines.ts';
import { checkSecretsAsked } from '../../control/secrets.ts';
import { type ControlDeps, hostStatusOf } from '../../control/ports.ts';
import { eventJson, machineJson, versionJson } from '../present.ts';
import { guestOf } from '../guest-scope.ts';
import { RenderCache } from '../render-cache.ts';
import { MachineEventSchema, type MachineJson, MachineSchema, MachineVersionSchema } from '../responses.ts';
import {
  AppParams, CreateMachineBody, DestroyQuery, EventsQuery, ListMachinesQuery, MachineParams, ShowMachineQuery, UpdateMachineBody,
} from '../schemas.ts';
import { type Api, leaseNonce, OK } from './types.ts';

const tags = ['Machines'];

export function machineRoutes(api: Api, deps: ControlDeps): void {
  const cache = new RenderCache((hostId) => hostStatusOf(deps, hostId));
  api.get('/v1/apps/:app_name/machines', { schema: { operationId: 'Machines_list', tags, params: AppParams, querystring: ListMachinesQuery, response: { 200: Type.Array(MachineSchema) } } }, async (request, reply) => {
    const query = request.query as Record<string, unknown> & typeof request.query;
    const metadata = Object.fromEntries(
      Object.entries(query)
        .filter(([key]) => key.startsWith('metadata.'))
        .map(([key, value]) => [key.slice('metadata.'.length), String(value)]),
    );
    const states = query.state ? query.state.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    const filter = { includeDeleted: query.include_deleted === true, region: query.region || undefined, states, metadata };
    const heads = await listMachineRevs(deps, request.params.app_name, filter);
    const checks = await deps.health?.checksOf(heads.map((head) => head.id));
    if (query.include_leases === true || (checks && checks.size > 0)) {
      // Leases expire and checks change with time, not with a change: rendered fresh.
      const listings = await listMachines(deps, request.params.app_name, filter);
      const options = { summary: query.summary === true, includeLease: query.include_leases === true, now: deps.clock.now() };
      return listings.map(({ machine, events }) => machineJson(machine, events, { ...options, checks: checks?.get(machine.id), hostStatus: hostStatusOf(deps, machine.hostId) }));
    }
    const misses = cache.misses(heads);
    if (misses.length) cache.add(await deps.store.getListings(misses));
    // Already JSON text (a string is sent as is, not serialized again), rendered by the same machineJson.
    return reply.type('application/json; charset=utf-8').send(cache.join(heads, query.summary === true) as unknown as MachineJson[]);
  });

  api.post('/v1/apps/:app_name/machines', { schema: { operationId: 'Machines_create', tags, params: AppParams, body: CreateMachineBody, response: { 200: MachineSchema } } }, async (request) => {
    await checkSecretsAsked(deps, request.params.app_name, request.body);
    const { machine, events } = await createMachine(deps, request.params.app_name, request.body);
    return machineJson(machine, events, { nonce: machine.lease?.nonce, hostStatus: hostStatusOf(deps, machine.hostId) });
  });

  api.get('/v1/apps/:app_name/machines/:machine_id', { schema: { operationId: 'Machines_show', tags, params: MachineParams, querystring: ShowMachineQuery, response: { 200: MachineSchema } } }, async (request) => {
    const { app_name, machine_id } = request.params;
    const version = request.query.version || request.query.instance_id || undefined;
    const { machine, events } = await getMachine(deps, app_name, machine_id, version);
    const checks = await deps.health?.checksOf([machine.id]);
    return machineJson(machine, events, {
      includeLease: request.query.include_leases === true, now: deps.clock.now(), checks: checks?.get(machine.id), hostStatus: hostStatusOf(deps, machine.hostId),
    });
  });

  api.post('/v1/apps/:app_name/machines/:machine_id', { schema: { operationId: 'Machines_update', tags, params: MachineParams, body: UpdateMachineBody, response: { 200: MachineSchema } } }, async (request) => {
    const { app_name, machine_id } = request.params;
    await checkSecretsAsked(deps, app_name, request.body);
    const updated = await updateMachine(deps, app_name, machine_id, request.body, leaseNonce(request), guestOf(request) ? 'machine' : 'operator');
    const { machine, events } = await getMachine(deps, app_name, updated.id);
    return machineJson(machine, events, { hostStatus: hostStatusOf(deps, machine.hostId) });
  });

  api.delete('/v1/apps/:app_name/machines/:machine_id', { schema: { operationId: 'Machines_delete', tags, params: MachineParams, querystring: DestroyQuery } }, async (request) => {
    const { app_name, machine_id } = request.params;
    const force = request.query.force === true || request.query.kill === true;
    await destroyMachine(deps, app_name, machine_id, { force, nonce: leaseNonce(request) });
    return OK;
  });

  api.get('/v1/apps/:app_name/machines/:machine_id/events', { schema: { operationId: 'Machines_list_events', tags, params: MachineParams, querystring: EventsQuery, response: { 200: Type.Array(MachineEventSchema) } } }, async (request) => {
    const events = await listEvents(deps, request.params.app_name, request.params.machine_id, request.query.limit);
    return events.map(eventJson);
  });

  api.get('/v1/apps/:app_name/machines/:machine_id/versions', { schema: { operationId: 'Machines_list_versions', tags, params: MachineParams, response: { 200: Type.Array(MachineVersionSchema) } } }, async (request) => {
    const versions = await listVersions(deps, request.params.app_name, request.params.machine_id);
    return versions.map(versionJson);
  });
}
