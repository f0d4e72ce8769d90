/**
 * A host agent's routes for moving a suspended machine, as its source: the
 * snapshot's files, listed block by block (parcel-wire.ts), then read as frames
 * from any block on. The target's side is agent-inbox.ts. Only replicas call
 * these (agent-api.ts).
 */
import type { FastifyInstance } from 'fastify';
import { HangarError } from '../domain/errors.ts';
import type { SnapshotParcels } from '../domain/runtime.ts';
import { addInboxRoutes, type AgentInboxOptions } from './agent-inbox.ts';
import { blockList, blockOf, framesOf, type ParcelFile } from './parcel-wire.ts';

export interface AgentParcelOptions extends AgentInboxOptions {
  snapshots: SnapshotParcels;
}

/** `machine` checks the id names a machine of this host (agent-api.ts). */
export function addParcelRoutes(app: FastifyInstance, options: AgentParcelOptions, machine: (params: unknown) => Promise<string>): void {
  const { snapshots } = options;
  const packed = new Map<string, Map<string, string>>();
  // A file's bytes arrive as they are sent; the route counts them against the list itself.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.post('/agent/v1/machines/:id/parcel', async (request) => {
    const id = await machine(request.params);
    const paths = await snapshots.packSnapshot(id).catch((error: unknown) => {
      throw new HangarError('invalid_state', `cannot move machine ${id}'s snapshot: ${(error as Error).message}`);
    });
    packed.set(id, paths);
    const files: ParcelFile[] = [];
    for (const [name, path] of paths) files.push(await blockList(name, path));
    return { files };
  });
  app.get('/agent/v1/machines/:id/parcel/:name', async (request, reply) => {
    const id = await machine(request.params);
    const path = packed.get(id)?.get(String((request.params as { name?: unknown }).name));
    if (!path) throw new HangarError('not_found', `no such file in machine ${id}'s packed snapshot`);
    return reply.type('application/octet-stream').send(framesOf(path, blockOf(request.query)));
  });

  addInboxRoutes(app, options);
}
