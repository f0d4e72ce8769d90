/**
 * `/hangar/v1/hosts`: the hosts machines are placed on, with what their machines
 * reserve, cordoning (a cordoned host keeps its machines and takes no new ones) and
 * draining (cordoned, and its machines moved away).
 * hangar's own endpoints: Fly's API has no hosts.
 */
import { Type } from 'typebox';
import { drainHost } from '../../control/drain.ts';
import { cordonHost, listHosts } from '../../control/hosts.ts';
import { forgetHost, rejoinHost } from '../../control/lost-hosts.ts';
import type { ControlDeps, ControlSettings } from '../../control/ports.ts';
import { hostIsFresh, type HostRecord, type HostUsage } from '../../domain/host.ts';
import { DrainReportSchema, HostSchema, type HostJson } from '../responses.ts';
import type { Api } from './types.ts';

const HostParams = Type.Object({ host_id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }) });
const tags = ['hangar'];

export function hostRoutes(api: Api, deps: ControlDeps): void {
  api.get('/hangar/v1/hosts', { schema: { operationId: 'Hangar_hosts_list', tags, response: { 200: Type.Array(HostSchema) } } }, async () => {
    return (await listHosts(deps)).map((usage) => hostJson(usage, deps.settings));
  });

  api.post('/hangar/v1/hosts/:host_id/forget', {
    schema: {
      operationId: 'Hangar_hosts_forget', tags, params: HostParams,
      description: 'Writes off a lost host: its machines and volumes become destroyed, its queued work and snapshot records go, without calling it; it may register again only after rejoin. 409 for a host that is not lost.',
      response: { 200: HostSchema },
    },
  }, async (request) => hostJson((await forgetHost(deps, request.params.host_id)).host, deps.settings));
  api.post('/hangar/v1/hosts/:host_id/rejoin', {
    schema: { operationId: 'Hangar_hosts_rejoin', tags, params: HostParams, description: 'Lets a forgotten host register again. 409 for a host that is not forgotten.', response: { 200: HostSchema } },
  }, async (request) => hostJson(await rejoinHost(deps, request.params.host_id), deps.settings));

  api.post('/hangar/v1/hosts/:host_id/drain', {
    schema: {
      operationId: 'Hangar_hosts_drain', tags, params: HostParams, body: Type.Union([Type.Object({ stop: Type.Optional(Type.Boolean()) }), Type.Null()]),
      description: 'Cordons the host and moves every machine to another host of its region: suspended ones with their memory, started ones suspended first where they can be (with stop: true, the others are stopped first); the rest are listed with the reason.',
      response: { 200: DrainReportSchema },
    },
  }, async (request) => drainHost(deps, request.params.host_id, { stop: request.body?.stop === true }));

  for (const [action, cordoned] of [['cordon', true], ['uncordon', false]] as const) {
    api.post(`/hangar/v1/hosts/:host_id/${action}`, {
      schema: { operationId: `Hangar_hosts_${action}`, tags, params: HostParams, response: { 200: HostSchema } },
    }, async (request) => hostJson(await cordonHost(deps, request.params.host_id, cordoned), deps.settings));
  }
}

/** `lost` and `forgotten` as recorded; else `silent` once unheard from for the lost threshold, `cordoned`, or `up`. */
export function hostStatus(host: HostRecord, settings: Pick<ControlSettings, 'hostId' | 'hostLostAfterMs'>): HostJson['status'] {
  if (host.state !== 'active') return host.state;
  if (host.id !== settings.hostId && !hostIsFresh(host, settings.hostLostAfterMs)) return 'silent';
  return host.cordoned ? 'cordoned' : 'up';
}

function hostJson(usage: HostUsage, settings: Pick<ControlSettings, 'hostId' | 'hostLostAfterMs'>): HostJson {
  const { host } = usage;
  return {
    id: host.id,
    region: host.region,
    address: host.address,
    status: hostStatus(host, settings),
    instance_id: host.instanceId,
    cordoned: host.cordoned,
    any_region: host.anyRegion,
    capacity: { cpus: host.cpus, memory_mb: host.memoryMb, disk_bytes: host.diskBytes },
    reserved: { cpus: usage.reservedCpus, memory_mb: usage.reservedMemoryMb },
    machines: usage.machines,
    ...(host.ipv4Range === undefined ? {} : { ipv4_range: host.ipv4Range }),
    ...(Number.isInteger(host.hostNumber) ? { host_number: host.hostNumber.toString(16) } : {}),
    epoch: host.epoch,
    heartbeat_at: new Date(host.heartbeatAt).toISOString(),
    registered_at: new Date(host.registeredAt).toISOString(),
  };
}
