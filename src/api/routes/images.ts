/**
 * `POST /hangar/v1/images/pull {"image": REF}`: fetches an image and builds its root
 * filesystem ahead of use, answering with one JSON object per line as it goes
 * (resolving, downloading a layer with bytes done and total, unpacking, building)
 * and a last line `{"status":"ready","image_ref":…}` (shaped as a machine's `image_ref`) or `{"status":"error","error":…}`.
 * hangar's own endpoint, outside Fly's /v1; the CLI shows it as pull progress.
 */
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ControlDeps } from '../../control/ports.ts';
import { parseImageRef } from '../../domain/image-ref.ts';
import { PullImageBody } from '../schemas.ts';
import type { Api } from './types.ts';

export function imageRoutes(api: Api, deps: ControlDeps): void {
  api.post('/hangar/v1/images/pull', { schema: { operationId: 'Hangar_images_pull', tags: ['hangar'], body: PullImageBody } }, async (request, reply) => {
    const reference = request.body.image;
    parseImageRef(reference);
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    reply.raw.flushHeaders();
    await pipeline(pullLines(deps, reference), reply.raw).catch(() => undefined);
  });
}

/** The pull's progress as JSON lines, ending with its outcome. */
function pullLines(deps: ControlDeps, reference: string): PassThrough {
  const lines = new PassThrough();
  const line = (value: object) => `${JSON.stringify(value)}\n`;
  deps.runtime.pullImage(reference, (progress) => lines.write(line(progress))).then(
    (imageRef) => lines.end(line({ status: 'ready', image_ref: imageRef })),
    (error: Error) => lines.end(line({ status: 'error', error: `image ${reference} could not be pulled: ${error.message}` })),
  );
  return lines;
}
