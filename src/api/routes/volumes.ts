/** `/v1/apps/{app}/volumes`: create, list, show, update, extend, delete, and each volume's snapshots. */
import { type ControlDeps, hostStatusOf } from '../../control/ports.ts';
import { createVolume, deleteVolume, extendVolume, getVolume, listVolumes, updateVolume } from '../../control/volumes.ts';
import { createSnapshot, listSnapshots } from '../../control/volume-snapshots.ts';
import { snapshotJson, volumeJson as present } from '../present.ts';
import { AppParams } from '../schemas.ts';
import { CreateVolumeBody, ExtendVolumeBody, UpdateVolumeBody, VolumeParams } from '../volume-schemas.ts';
import type { VolumeRecord } from '../../domain/volume.ts';
import type { Api } from './types.ts';

const tags = ['Volumes'];

export function volumeRoutes(api: Api, deps: ControlDeps): void {
  const volumeJson = (volume: VolumeRecord) => present(volume, hostStatusOf(deps, volume.hostId));
  api.get('/v1/apps/:app_name/volumes', { schema: { operationId: 'Volumes_list', tags, params: AppParams } }, async (request) => {
    return (await listVolumes(deps, request.params.app_name)).map(volumeJson);
  });

  api.post('/v1/apps/:app_name/volumes', { schema: { operationId: 'Volumes_create', tags, params: AppParams, body: CreateVolumeBody } }, async (request) => {
    return volumeJson(await createVolume(deps, request.params.app_name, request.body));
  });

  api.get('/v1/apps/:app_name/volumes/:volume_id', { schema: { operationId: 'Volumes_get_by_id', tags, params: VolumeParams } }, async (request) => {
    return volumeJson(await getVolume(deps, request.params.app_name, request.params.volume_id));
  });

  api.put('/v1/apps/:app_name/volumes/:volume_id', { schema: { operationId: 'Volumes_update', tags, params: VolumeParams, body: UpdateVolumeBody } }, async (request) => {
    return volumeJson(await updateVolume(deps, request.params.app_name, request.params.volume_id, request.body));
  });

  api.put('/v1/apps/:app_name/volumes/:volume_id/extend', { schema: { operationId: 'Volumes_extend', tags, params: VolumeParams, body: ExtendVolumeBody } }, async (request) => {
    const { volume, needsRestart } = await extendVolume(deps, request.params.app_name, request.params.volume_id, request.body.size_gb);
    return { volume: volumeJson(volume), needs_restart: needsRestart };
  });

  api.get('/v1/apps/:app_name/volumes/:volume_id/snapshots', { schema: { operationId: 'Volumes_list_snapshots', tags, params: VolumeParams } }, async (request) => {
    const { volume, snapshots } = await listSnapshots(deps, request.params.app_name, request.params.volume_id);
    return snapshots.map((snapshot) => snapshotJson(snapshot, volume));
  });

  // fly-go sends no body and reads none; the answer is the new snapshot.
  api.post('/v1/apps/:app_name/volumes/:volume_id/snapshots', { schema: { operationId: 'createVolumeSnapshot', tags, params: VolumeParams } }, async (request) => {
    const { volume, snapshot } = await createSnapshot(deps, request.params.app_name, request.params.volume_id);
    return snapshotJson(snapshot, volume);
  });

  api.delete('/v1/apps/:app_name/volumes/:volume_id', { schema: { operationId: 'Volume_delete', tags, params: VolumeParams } }, async (request) => {
    return volumeJson(await deleteVolume(deps, request.params.app_name, request.params.volume_id));
  });
}
