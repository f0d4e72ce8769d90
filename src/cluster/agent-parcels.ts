/**
 * A host agent's routes for moving a machine, as its source: what the move
 * carries (the suspend snapshot's files, the volumes it mounts and their
 * snapshots), listed block by block (parcel-wire.ts), then read as frames from
 * any block on; and, once the move committed, the volumes let go. The target's
 * side is agent-inbox.ts. Only replicas call these (agent-api.ts).
 */
import type { FastifyInstance } from 'fastify';
import { HangarError } from '../domain/errors.ts';
import type { PackedFile, SnapshotParcels } from '../domain/runtime.ts';
import { Type } from 'typebox';
import { VOLUME_SNAPSHOT_ID, VOLUME_ID } from '../domain/volume.ts';
import { addInboxRoutes, type AgentInboxOptions } from './agent-inbox.ts';
import type { AgentVolumeOptions } from './agent-volumes.ts';
import { stat } from 'node:fs/promises';
import { BLOCK_BYTES, blockList } from '../system/block-list.ts';
import { blockOf, framesOf, type ParcelFile } from './parcel-wire.ts';

export interface AgentParcelOptions extends AgentInboxOptions, AgentVolumeOptions {
  snapshots: SnapshotParcels;
}

/** What the replica asks to be carried. */
interface ParcelAsk {
  snapshot?: boolean;
  volumes?: string[];
  volumeSnapshots?: string[];
}

const ParcelAskSchema = Type.Object({
  snapshot: Type.Optional(Type.Boolean()),
  volumes: Type.Optional(Type.Array(Type.String({ pattern: VOLUME_ID.source }), { maxItems: 16 })),
  volumeSnapshots: Type.Optional(Type.Array(Type.String({ pattern: VOLUME_SNAPSHOT_ID.source }), { maxItems: 1024 })),
}, { additionalProperties: false });

/**
 * A machine's pack is held while it is being made and while a move's target reads
 * its files: another move of the machine meanwhile is refused, since packing again
 * replaces the files being read, and both moves would fail. A pack nobody reads
 * (its move's replica died) holds nothing.
 */
interface Carried {
  packing: boolean;
  /** Reads of its files under way. */
  reading: number;
}

/** `machine` checks the id names a machine of this host (agent-api.ts). */
export function addParcelRoutes(app: FastifyInstance, options: AgentParcelOptions, machine: (params: unknown) => Promise<string>): void {
  const { snapshots } = options;
  // What each machine's last pack listed, by file: where it is, its blocks, and when they are in it.
  const packed = new Map<string, Map<string, { path: string; file: ParcelFile; written?: PackedFile['written'] }>>();
  // When each machine was last packed for a move.
  const carrying = new Map<string, Carried>();
  // A file's bytes arrive as they are sent; the route counts them against the list itself.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.post('/agent/v1/machines/:id/parcel', { schema: { body: ParcelAskSchema } }, async (request) => {
    const id = await machine(request.params);
    const ask = (request.body ?? {}) as ParcelAsk;
    const held = carrying.get(id);
    if (ask.snapshot !== false && held && (held.packing || held.reading > 0)) {
      throw new HangarError('conflict', `machine ${id} is being carried to another host already: one move of a machine at a time`);
    }
    const carried: Carried = { packing: true, reading: 0 };
    if (ask.snapshot !== false) carrying.set(id, carried);
    try {
      return { files: await pack(id, ask) };
    } finally {
      carried.packing = false;
    }
  });
  /** Packs what `ask` names of machine `id`, and lists its files block by block. */
  async function pack(id: string, ask: ParcelAsk): Promise<ParcelFile[]> {
    const load = ask.snapshot === false ? new Map<string, PackedFile>() : await snapshots.packSnapshot(id).catch((error: unknown) => {
      throw new HangarError('invalid_state', `cannot move machine ${id}'s snapshot: ${(error as Error).message}`);
    });
    for (const volumeId of ask.volumes ?? []) {
      if (!(await options.ownsVolume(volumeId))) throw new HangarError('not_found', `volume not found on this host: ${volumeId}`);
      load.set(volumeId, { path: options.volumes.path(volumeId) });
    }
    for (const snapshotId of ask.volumeSnapshots ?? []) load.set(snapshotId, { path: options.volumes.snapshotPath(snapshotId) });
    if (load.size === 0) throw new HangarError('invalid_argument', 'nothing to carry');
    const files: ParcelFile[] = [];
    for (const [name, file] of load) {
      // Blocks named already (the RAM's, by its write-out) are not read again.
      const listed = file.blocks ? { bytes: file.bytes ?? (await stat(file.path)).size, blocks: file.blocks } : await blockList(file.path);
      if (listed.blocks.length !== Math.ceil(listed.bytes / BLOCK_BYTES)) throw new HangarError('internal', `${name}: its recorded blocks do not match its size`);
      files.push({ name, ...listed });
    }
    packed.set(id, new Map(files.map((file) => {
      const { path, written } = load.get(file.name) as PackedFile;
      return [file.name, { path, file, written }];
    })));
    return files;
  }
  app.get('/agent/v1/machines/:id/parcel/:name', async (request, reply) => {
    const id = await machine(request.params);
    const listed = packed.get(id)?.get(String((request.params as { name?: unknown }).name));
    if (!listed) throw new HangarError('not_found', `no such file in machine ${id}'s packed snapshot`);
    const held = carrying.get(id);
    if (held) {
      held.reading += 1;
      reply.raw.once('close', () => { held.reading -= 1; });
    }
    return reply.type('application/octet-stream').send(framesOf(listed.path, listed.file, blockOf(request.query), listed.written));
  });

  // Once the move committed: the volumes, now another host's, and their snapshots go from this one.
  app.post('/agent/v1/volumes/:volume/moved-away', { schema: { body: Type.Object({ snapshots: ParcelAskSchema.properties.volumeSnapshots }) } }, async (request) => {
    const volumeId = String((request.params as { volume?: unknown }).volume ?? '');
    if (!VOLUME_ID.test(volumeId)) throw new HangarError('invalid_argument', 'a volume id is required');
    if (await options.ownsVolume(volumeId)) throw new HangarError('conflict', `volume ${volumeId} is still this host's`);
    await options.volumes.remove(volumeId);
    for (const snapshotId of (request.body as { snapshots?: string[] }).snapshots ?? []) await options.volumes.removeSnapshot({ id: snapshotId, volumeId });
    return { ok: true };
  });
  addInboxRoutes(app, options);
}
