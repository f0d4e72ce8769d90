/** `…/metadata`: show, bulk replace (PUT) and merge (PATCH), and one key at a time; writes need no lease nonce. */
import {
  deleteMetadataValue, getMetadata, getMetadataValue, setMetadataValue, writeMetadata,
} from '../../control/metadata.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { BulkMetadataBody, MachineParams, MetadataKeyParams, MetadataValueBody } from '../schemas.ts';
import type { Api } from './types.ts';

const tags = ['Machines'];

export function metadataRoutes(api: Api, deps: ControlDeps): void {
  api.get('/v1/apps/:app_name/machines/:machine_id/metadata', { schema: { operationId: 'Machines_show_metadata', tags, params: MachineParams } }, async (request) => {
    return getMetadata(deps, request.params.app_name, request.params.machine_id);
  });

  for (const [method, mode] of [['put', 'replace'], ['patch', 'merge']] as const) {
    api[method]('/v1/apps/:app_name/machines/:machine_id/metadata', { schema: { operationId: 'Machines_update_metadata', tags, params: MachineParams, body: BulkMetadataBody } }, async (request, reply) => {
      await writeMetadata(deps, request.params.app_name, request.params.machine_id, mode, request.body);
      return reply.status(204).send();
    });
  }

  api.get('/v1/apps/:app_name/machines/:machine_id/metadata/:key', { schema: { operationId: 'Machines_get_metadata_key', tags, params: MetadataKeyParams } }, async (request) => {
    const { app_name, machine_id, key } = request.params;
    return { value: await getMetadataValue(deps, app_name, machine_id, key) };
  });

  api.post('/v1/apps/:app_name/machines/:machine_id/metadata/:key', { schema: { operationId: 'Machines_upsert_metadata', tags, params: MetadataKeyParams, body: MetadataValueBody } }, async (request, reply) => {
    const { app_name, machine_id, key } = request.params;
    await setMetadataValue(deps, app_name, machine_id, key, request.body.value);
    return reply.status(204).send();
  });

  api.delete('/v1/apps/:app_name/machines/:machine_id/metadata/:key', { schema: { operationId: 'Machines_delete_metadata', tags, params: MetadataKeyParams } }, async (request, reply) => {
    const { app_name, machine_id, key } = request.params;
    await deleteMetadataValue(deps, app_name, machine_id, key);
    return reply.status(204).send();
  });
}
