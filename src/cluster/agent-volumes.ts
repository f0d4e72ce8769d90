/**
 * A host agent's volume routes: the files of the volumes placed on this host.
 * A volume named in the path must be recorded on this host (snapshots are kept
 * with their volume); a new volume's id is only checked for its form, as its
 * record is written once its file exists.
 */
import type { FastifyInstance } from 'fastify';
import { HangarError } from '../domain/errors.ts';
import { MAX_VOLUME_GB, VOLUME_ID, VOLUME_NAME, VOLUME_SNAPSHOT_ID } from '../domain/volume.ts';
import type { LocalVolumes } from '../volumes/local-volumes.ts';


export interface AgentVolumeOptions {
  volumes: LocalVolumes;
  /** Whether volume `id` is placed on this host. */
  ownsVolume(id: string): Promise<boolean>;
}

export function addVolumeRoutes(app: FastifyInstance, options: AgentVolumeOptions): void {
  const { volumes } = options;
  const owned = async (params: unknown): Promise<string> => {
    const id = String((params as { volume?: unknown }).volume ?? '');
    if (!VOLUME_ID.test(id) || !(await options.ownsVolume(id))) throw new HangarError('not_found', `volume not found on this host: ${id}`);
    return id;
  };
  const snapshotOf = (params: unknown) => ({ id: matching(VOLUME_SNAPSHOT_ID, (params as { snapshot?: unknown }).snapshot, 'snapshot') });
  const field = (request: { body: unknown }, name: string): unknown => ((request.body ?? {}) as Record<string, unknown>)[name];

  app.get('/agent/v1/space', async () => volumes.space());
  app.post('/agent/v1/volumes', async (request) => {
    await volumes.create(matching(VOLUME_ID, field(request, 'id'), 'id'), sizeOf(field(request, 'sizeGb')), matching(VOLUME_NAME, field(request, 'label'), 'label'));
    return { ok: true };
  });
  app.post('/agent/v1/volumes/:volume/fork', async (request) => {
    await volumes.fork(await owned(request.params), matching(VOLUME_ID, field(request, 'id'), 'id'), sizeOf(field(request, 'sizeGb')));
    return { ok: true };
  });
  app.post('/agent/v1/volumes/:volume/snapshots', async (request) => {
    const volumeId = await owned(request.params);
    return { storedBytes: await volumes.snapshot(volumeId, matching(VOLUME_SNAPSHOT_ID, field(request, 'snapshotId'), 'snapshotId')) };
  });
  app.post('/agent/v1/volumes/:volume/snapshots/:snapshot/restore', async (request) => {
    const snapshot = { ...snapshotOf(request.params), volumeId: await owned(request.params) };
    await volumes.restore(snapshot, matching(VOLUME_ID, field(request, 'id'), 'id'), sizeOf(field(request, 'sizeGb')));
    return { ok: true };
  });
  app.delete('/agent/v1/volumes/:volume/snapshots/:snapshot', async (request) => {
    await volumes.removeSnapshot({ ...snapshotOf(request.params), volumeId: await owned(request.params) });
    return { ok: true };
  });
  app.get('/agent/v1/volumes/:volume/allocated', async (request) => ({ bytes: await volumes.allocatedBytes(await owned(request.params)) }));
  app.put('/agent/v1/volumes/:volume/size', async (request) => {
    await volumes.extend(await owned(request.params), sizeOf(field(request, 'sizeGb')));
    return { ok: true };
  });
  app.delete('/agent/v1/volumes/:volume', async (request) => {
    await volumes.remove(await owned(request.params));
    return { ok: true };
  });
}

function matching(pattern: RegExp, value: unknown, name: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw new HangarError('invalid_argument', `${name} is missing or malformed`);
  return value;
}

function sizeOf(value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_VOLUME_GB) {
    throw new HangarError('invalid_argument', `sizeGb must be a whole number from 1 to ${MAX_VOLUME_GB}`);
  }
  return value as number;
}
