/**
 * `GET /hangar/v1/apps/{app}/machines/watch`: an app's machines as a stream of
 * Server-Sent Events, what the web console shows live: first `snapshot` (every
 * machine, with the states its recent events entered), then `machine` for each change as it is committed (anywhere in the
 * cluster: the process's change feed), and a comment every 15 s so that proxies
 * keep the connection. A client too slow to read is cut off; it reconnects and
 * starts again from a snapshot.
 */
import type { MachineEvent, MachineRecord } from '../../domain/machine.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { getApp } from '../../control/app-lookup.ts';
import { listMachines } from '../../control/machines.ts';
import { AppParams } from '../schemas.ts';
import type { Api } from './types.ts';

const KEEPALIVE_MS = 15_000;
/** Bytes a client may leave unread before it is cut off. */
const MAX_UNREAD = 4 * 1024 * 1024;

/** What the console shows of a machine. */
export function watchedMachine(machine: MachineRecord) {
  const metadata = machine.config.metadata ?? {};
  return {
    id: machine.id, name: machine.name, state: machine.state, region: machine.region, host_id: machine.hostId ?? null,
    cordoned: machine.cordoned, image: machine.config.image, process_group: metadata.fly_process_group ?? null,
    release: metadata.fly_release_version ?? null, updated_at: new Date(machine.updatedAt).toISOString(),
    created_at: new Date(machine.createdAt).toISOString(),
  };
}

/** A machine in a snapshot: with the states its recent events entered, and when (the console's chart starts from them). */
function snapshotMachine(machine: MachineRecord, events: MachineEvent[]) {
  return { ...watchedMachine(machine), history: events.map((event) => ({ state: event.status, at: event.timestamp })) };
}

export function machineWatchRoutes(api: Api, deps: ControlDeps): void {
  api.get('/hangar/v1/apps/:app_name/machines/watch', { schema: { operationId: 'Hangar_machines_watch', tags: ['hangar'], params: AppParams } }, async (request, reply) => {
    const appName = request.params.app_name;
    await getApp(deps, appName);
    // Changes from here on are held until the snapshot is sent, then sent after it.
    let held: MachineRecord[] | undefined = [];
    const raw = reply.raw;
    const send = (event: string, data: unknown) => {
      if (raw.writableLength > MAX_UNREAD) return void raw.destroy();
      raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const unsubscribe = deps.feed.subscribe((machine) => {
      if (machine.appName !== appName) return;
      if (held) held.push(machine);
      else send('machine', watchedMachine(machine));
    });
    const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
    request.raw.once('close', () => {
      unsubscribe();
      clearInterval(keepalive);
    });
    let machines: Array<{ machine: MachineRecord; events: MachineEvent[] }>;
    try {
      machines = await listMachines(deps, appName, {});
    } catch (error) {
      unsubscribe();
      clearInterval(keepalive);
      throw error;
    }
    reply.hijack();
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    send('snapshot', { machines: machines.map(({ machine, events }) => snapshotMachine(machine, events)) });
    const later = held;
    held = undefined;
    for (const machine of later) send('machine', watchedMachine(machine));
  });
}
