/**
 * `GET /hangar/v1/apps/{app}/machines/{id}/logs?tail=N&follow=true`: the machine's
 * console as text, one line per line; with `follow` the answer streams until the
 * client goes away. hangar's own endpoint, outside Fly's /v1.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { machineLogs } from '../../control/logs.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { LogsQuery, MachineParams } from '../schemas.ts';
import type { Api } from './types.ts';

export function logRoutes(api: Api, deps: ControlDeps): void {
  api.get('/hangar/v1/apps/:app_name/machines/:machine_id/logs', { schema: { operationId: 'Hangar_machine_logs', tags: ['hangar'], params: MachineParams, querystring: LogsQuery } }, async (request, reply) => {
    const gone = new AbortController();
    request.raw.once('close', () => gone.abort());
    const lines = await machineLogs(deps, request.params.app_name, request.params.machine_id, request.query, gone.signal);
    // Headers go out at once: a follower may wait a long time for its first line.
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    reply.raw.flushHeaders();
    const body = Readable.from((async function* () {
      for await (const line of lines) yield `${line}\n`;
    })());
    await pipeline(body, reply.raw).catch(() => undefined);
  });
}
