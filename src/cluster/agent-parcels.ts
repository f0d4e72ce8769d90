/**
 * A host agent's routes for moving a suspended machine: as the source, its
 * snapshot's files (listed with their sizes and sha256, then read from any
 * offset); as the target, an inbox for them (`<data dir>/incoming/<machine>/`)
 * that a replica fills file by file, picking up at what arrived if a transfer
 * breaks, and that is checked whole against the list before the snapshot is
 * taken in. Only replicas call these (agent-api.ts); the machine's record, not
 * machine's record comes with the list, as the replica read it (a host may not
 * read another host's machines), and is checked as a stored one is.
 */
import { mkdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HangarError } from '../domain/errors.ts';
import type { SnapshotParcels } from '../domain/runtime.ts';
import { BLOCK_BYTES, blockList, framesOf, type Incoming, IncomingSchema, type ParcelFile, receiveFrames } from './parcel-wire.ts';
import { readMachineDoc } from '../store/documents.ts';
import { specOf } from '../domain/runtime.ts';

export interface AgentParcelOptions {
  snapshots: SnapshotParcels;
  /** Where snapshots being received are kept until taken in. */
  incomingDir: string;
  /** Ends what this host holds of a machine that is not its own (a move that did not commit). */
  discardUnowned(machineId: string): Promise<void>;
}

/** `machine` checks the id names a machine of this host (agent-api.ts). */
export function addParcelRoutes(app: FastifyInstance, options: AgentParcelOptions, machine: (params: unknown) => Promise<string>): void {
  const { snapshots, incomingDir } = options;
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

  const inbox = (params: unknown): string => {
    const id = String((params as { id?: unknown }).id ?? '');
    if (!/^[0-9a-f]{14}$/.test(id)) throw new HangarError('invalid_argument', 'a machine id is 14 hex digits');
    return join(incomingDir, id);
  };
  const listOf = async (dir: string): Promise<ParcelFile[]> => {
    const text = await readFile(join(dir, 'parcel.json'), 'utf8').catch(() => undefined);
    if (text === undefined) throw new HangarError('not_found', 'no snapshot is being received for this machine');
    return JSON.parse(text) as ParcelFile[];
  };
  const receivedIn = async (dir: string, files: ParcelFile[]) =>
    Object.fromEntries(await Promise.all(files.map(async (file) => [file.name, (await stat(join(dir, 'files', file.name)).catch(() => undefined))?.size ?? 0])));

  // Begins (or picks up) receiving: the same list keeps what arrived; another starts over.
  // A large guest's list of blocks is long.
  app.post('/agent/v1/incoming/:id', { schema: { body: IncomingSchema }, bodyLimit: 16 * 1024 * 1024 }, async (request) => {
    const dir = inbox(request.params);
    const { files, machine: doc } = request.body as Incoming;
    if (new Set(files.map((file) => file.name)).size !== files.length) throw new HangarError('invalid_argument', 'a file is listed twice');
    if (files.some((file) => file.blocks.length !== Math.ceil(file.bytes / BLOCK_BYTES))) throw new HangarError('invalid_argument', 'a file\'s blocks do not match its size');
    if (readMachineDoc(doc)?.id !== dir.slice(-14)) throw new HangarError('invalid_argument', 'the machine\'s record is not a valid one of this machine');
    const earlier = await listOf(dir).catch(() => undefined);
    if (JSON.stringify(earlier) !== JSON.stringify(files)) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(join(dir, 'files'), { recursive: true });
      const fs = await statfs(dir);
      const needed = files.reduce((sum, file) => sum + file.bytes, 0);
      if (fs.bavail * fs.bsize < needed) {
        await rm(dir, { recursive: true, force: true });
        throw new HangarError('insufficient_capacity', `this host has ${Math.floor((fs.bavail * fs.bsize) / 2 ** 20)} MiB free; the snapshot needs ${Math.ceil(needed / 2 ** 20)} MiB`);
      }
      for (const file of files) await writeFile(join(dir, 'files', file.name), '');
      await writeFile(join(dir, 'parcel.json'), JSON.stringify(files));
    }
    await writeFile(join(dir, 'machine.json'), doc);
    return { received: await receivedIn(dir, files) };
  });
  app.get('/agent/v1/incoming/:id', async (request) => {
    const dir = inbox(request.params);
    return { received: await receivedIn(dir, await listOf(dir)) };
  });
  app.put('/agent/v1/incoming/:id/:name', async (request) => {
    const dir = inbox(request.params);
    const name = String((request.params as { name?: unknown }).name);
    const file = (await listOf(dir)).find((listed) => listed.name === name);
    if (!file) throw new HangarError('invalid_argument', `${name} is not in the snapshot's file list`);
    const path = join(dir, 'files', name);
    const first = blockOf(request.query);
    const size = (await stat(path).catch(() => undefined))?.size ?? 0;
    if (first * BLOCK_BYTES > size) throw new HangarError('conflict', `${size} bytes of ${name} arrived; send from there`);
    const body = request.body as AsyncIterable<Buffer> | undefined;
    const kept = body ? await receiveFrames(body, path, file, first).catch((error: unknown) => {
      throw new HangarError('conflict', `${(error as Error).message}; what arrived whole is kept`);
    }) : size;
    return { bytes: kept };
  });
  // Whole (every block was checked as it arrived), then taken in as the machine's snapshot on this host.
  app.post('/agent/v1/incoming/:id/unpack', async (request) => {
    const dir = inbox(request.params);
    const id = dir.slice(-14);
    const files = await listOf(dir);
    for (const file of files) {
      const path = join(dir, 'files', file.name);
      const size = (await stat(path).catch(() => undefined))?.size;
      if (size !== file.bytes) throw new HangarError('conflict', `${file.name}: ${size ?? 0} of ${file.bytes} bytes arrived`);
    }
    const record = readMachineDoc(await readFile(join(dir, 'machine.json'), 'utf8').catch(() => undefined));
    if (record?.id !== id) throw new HangarError('not_found', 'the machine\'s record did not arrive');
    await snapshots.unpackSnapshot(specOf(record), new Map(files.map((file) => [file.name, join(dir, 'files', file.name)])));
    await rm(dir, { recursive: true, force: true });
    return { ok: true };
  });
  // A move that did not commit: what arrived goes, and what was taken in, unless the machine is this host's now.
  app.delete('/agent/v1/incoming/:id', async (request) => {
    const dir = inbox(request.params);
    await rm(dir, { recursive: true, force: true });
    await options.discardUnowned(dir.slice(-14));
    return { ok: true };
  });
}

/** The block a transfer starts at, from its byte offset (a whole number of blocks). */
function blockOf(query: unknown): number {
  const offset = Number((query as { offset?: unknown }).offset ?? 0);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % BLOCK_BYTES !== 0) throw new HangarError('invalid_argument', `offset must be a whole number of ${BLOCK_BYTES}-byte blocks`);
  return offset / BLOCK_BYTES;
}
