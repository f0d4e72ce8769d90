/**
 * A host agent's routes for receiving a moved machine's snapshot and volume: an
 * inbox per machine (`<data dir>/incoming/<machine>/`) that a replica opens with the
 * list of files (parcel-wire.ts) and the machine's record as it read it (a host may
 * not read another host's machines; it is checked as a stored one is), fills file by
 * file, picking up at what arrived if a transfer breaks, and then asks to take in.
 *
 * Every call names its move. A host receives one move of a machine at a time: a
 * new move takes the inbox over (its replica may have died), and the calls of the
 * move it replaced are refused from then on, so that move fails. A move lets go
 * (DELETE) only of what it brought itself: the inbox, or the snapshot and volume it
 * took in, unless the machine (and volume) is this host's by then. The inboxes do
 * not outlive a restart of the host.
 */
import { mkdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HangarError } from '../domain/errors.ts';
import { type MachineSpec, specOf, type SnapshotParcels } from '../domain/runtime.ts';
import { VOLUME_ID, VOLUME_SNAPSHOT_ID } from '../domain/volume.ts';
import { readMachineDoc } from '../store/documents.ts';
import type { LocalVolumes } from '../volumes/local-volumes.ts';
import { BLOCK_BYTES } from '../system/block-list.ts';
import { blockOf, type Incoming, IncomingSchema, MOVE_ID, type ParcelFile, receiveFrames } from './parcel-wire.ts';

export interface AgentInboxOptions {
  snapshots: SnapshotParcels;
  /** This host's volumes: those carried here are taken in. */
  volumes: LocalVolumes;
  /** Whether volume `id` is placed on this host. */
  ownsVolume(id: string): Promise<boolean>;
  /** Where snapshots being received are kept until taken in. */
  incomingDir: string;
  /** Ends what this host holds of a machine that is not its own (a move that did not commit). */
  discardUnowned(machineId: string): Promise<void>;
  /** The machine's spec, if it is placed on this host. */
  specOf(machineId: string): Promise<MachineSpec | undefined>;
}

const MOVE = new RegExp(MOVE_ID);

export function addInboxRoutes(app: FastifyInstance, options: AgentInboxOptions): void {
  const { incomingDir } = options;
  const inbox = (params: unknown): { id: string; dir: string } => {
    const id = String((params as { id?: unknown }).id ?? '');
    if (!/^[0-9a-f]{14}$/.test(id)) throw new HangarError('invalid_argument', 'a machine id is 14 hex digits');
    return { id, dir: join(incomingDir, id) };
  };
  const moveOf = (query: unknown): string => {
    const move = String((query as { move?: unknown }).move ?? '');
    if (!MOVE.test(move)) throw new HangarError('invalid_argument', 'move must be the move\'s id');
    return move;
  };
  /** The move whose inbox it is. */
  const heldBy = (dir: string): Promise<string | undefined> => readFile(join(dir, 'move'), 'utf8').catch(() => undefined);
  /** Refuses a call of a move whose inbox this is not. */
  const ours = async (dir: string, move: string): Promise<void> => {
    if ((await heldBy(dir)) !== move) throw new HangarError('conflict', 'this host holds no inbox of that move (another move took it over, or the host restarted)');
  };
  const listOf = async (dir: string): Promise<ParcelFile[]> => JSON.parse(await readFile(join(dir, 'parcel.json'), 'utf8')) as ParcelFile[];
  const receivedIn = async (dir: string, files: ParcelFile[]) =>
    Object.fromEntries(await Promise.all(files.map(async (file) => [file.name, (await stat(join(dir, 'files', file.name)).catch(() => undefined))?.size ?? 0])));

  // Opens (or picks up) this move's inbox: the same list keeps what arrived. A large guest's list is long.
  app.post('/agent/v1/incoming/:id', { schema: { body: IncomingSchema }, bodyLimit: 16 * 1024 * 1024 }, async (request) => {
    const { id, dir } = inbox(request.params);
    const { move, files, machine: doc } = request.body as Incoming;
    if (new Set(files.map((file) => file.name)).size !== files.length) throw new HangarError('invalid_argument', 'a file is listed twice');
    if (files.some((file) => file.blocks.length !== Math.ceil(file.bytes / BLOCK_BYTES))) throw new HangarError('invalid_argument', 'a file\'s blocks do not match its size');
    if (readMachineDoc(doc)?.id !== id) throw new HangarError('invalid_argument', 'the machine\'s record is not a valid one of this machine');
    const earlier = (await heldBy(dir)) === move ? await listOf(dir).catch(() => undefined) : undefined;
    if (JSON.stringify(earlier) !== JSON.stringify(files)) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(join(dir, 'files'), { recursive: true });
      const fs = await statfs(dir);
      // Zeros take no space here.
      const needed = files.reduce((sum, file) => sum + file.blocks.filter((block) => block !== '').length * BLOCK_BYTES, 0);
      if (fs.bavail * fs.bsize < needed) {
        await rm(dir, { recursive: true, force: true });
        throw new HangarError('insufficient_capacity', `this host has ${Math.floor((fs.bavail * fs.bsize) / 2 ** 20)} MiB free; the snapshot needs ${Math.ceil(needed / 2 ** 20)} MiB`);
      }
      for (const file of files) await writeFile(join(dir, 'files', file.name), '');
      await writeFile(join(dir, 'parcel.json'), JSON.stringify(files));
      await writeFile(join(dir, 'move'), move);
    }
    await writeFile(join(dir, 'machine.json'), doc);
    return { received: await receivedIn(dir, files) };
  });
  app.get('/agent/v1/incoming/:id', async (request) => {
    const { dir } = inbox(request.params);
    await ours(dir, moveOf(request.query));
    return { received: await receivedIn(dir, await listOf(dir)) };
  });
  app.put('/agent/v1/incoming/:id/:name', async (request) => {
    const { dir } = inbox(request.params);
    await ours(dir, moveOf(request.query));
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
  // Whole (every block was checked as it arrived), then taken in as the machine's snapshot here; the mark of the move stays.
  app.post('/agent/v1/incoming/:id/unpack', async (request) => {
    const { id, dir } = inbox(request.params);
    await ours(dir, moveOf(request.query));
    const files = await listOf(dir);
    for (const file of files) {
      const size = (await stat(join(dir, 'files', file.name)).catch(() => undefined))?.size;
      if (size !== file.bytes) throw new HangarError('conflict', `${file.name}: ${size ?? 0} of ${file.bytes} bytes arrived`);
    }
    const record = readMachineDoc(await readFile(join(dir, 'machine.json'), 'utf8').catch(() => undefined));
    if (record?.id !== id) throw new HangarError('not_found', 'the machine\'s record did not arrive');
    const received = new Map(files.map((file) => [file.name, join(dir, 'files', file.name)]));
    // Volumes and their snapshots first (a snapshot of the machine names them), listed for a drop.
    const volumes = [...received.keys()].filter((name) => VOLUME_ID.test(name) || VOLUME_SNAPSHOT_ID.test(name));
    await writeFile(join(dir, 'volumes.json'), JSON.stringify(volumes));
    for (const name of volumes) {
      const path = received.get(name) as string;
      if (VOLUME_ID.test(name)) await options.volumes.adopt(name, path);
      else await options.volumes.adoptSnapshot(name, path);
      received.delete(name);
    }
    if (received.size > 0) await options.snapshots.unpackSnapshot(specOf(record), received);
    await rm(join(dir, 'files'), { recursive: true, force: true });
    await rm(join(dir, 'parcel.json'), { force: true });
    return { ok: true };
  });
  // A move that committed: the inbox goes, and the snapshot is readied for the start that tends to follow a move.
  app.post('/agent/v1/incoming/:id/settled', async (request) => {
    const { id, dir } = inbox(request.params);
    await ours(dir, moveOf(request.query));
    const spec = await options.specOf(id);
    if (!spec) throw new HangarError('conflict', `machine ${id} is not this host's: its move did not commit`);
    await rm(dir, { recursive: true, force: true });
    // Queued before the answer, so a start the replica hands this host afterwards comes after it; not waited for.
    void options.snapshots.readyToResume(spec);
    return { ok: true };
  });
  // A move that did not commit lets go of what it brought, unless the machine is this host's by then.
  app.delete('/agent/v1/incoming/:id', async (request) => {
    const { id, dir } = inbox(request.params);
    const move = moveOf(request.query);
    if ((await heldBy(dir)) === move) {
      // A machine mounts one volume at most.
      const taken = JSON.parse(await readFile(join(dir, 'volumes.json'), 'utf8').catch(() => '[]')) as string[];
      const volumeId = taken.find((name) => VOLUME_ID.test(name));
      if (volumeId !== undefined && !(await options.ownsVolume(volumeId))) {
        await options.volumes.remove(volumeId);
        for (const name of taken.filter((other) => VOLUME_SNAPSHOT_ID.test(other))) await options.volumes.removeSnapshot({ id: name, volumeId });
      }
      await rm(dir, { recursive: true, force: true });
      await options.discardUnowned(id);
    }
    return { ok: true };
  });
}
