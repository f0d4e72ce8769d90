/** `image pull`: fetch an image onto the host ahead of use, showing progress; `machine run` pulls this way first. */
import { ApiError, type ApiClient } from '../../../client/api-client.ts';
import type { CommandSpec } from '../../command.ts';
import type { Io } from '../../output.ts';

type PullLine =
  | { status: 'resolving' | 'building' }
  | { status: 'cached'; digest: string }
  | { status: 'downloading'; layer: string; done: number; total: number }
  | { status: 'unpacking'; layer: string }
  | { status: 'ready'; image_ref: { registry: string; repository: string; tag: string; digest: string } }
  | { status: 'error'; error: string };

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const short = (digest: string) => digest.replace('sha256:', '').slice(0, 12);

/** Pulls `image` through hangar, printing progress on stderr (a line per layer every second at most); returns the pinned digest. */
export async function pullWithProgress(client: ApiClient, io: Io, image: string, now: () => number = Date.now): Promise<string> {
  const printedAt = new Map<string, number>();
  for await (const text of client.lines('/hangar/v1/images/pull', { image })) {
    if (!text) continue;
    const line = JSON.parse(text) as PullLine;
    switch (line.status) {
      case 'resolving':
        io.err(`Pulling ${image}`);
        break;
      case 'downloading': {
        const last = printedAt.get(line.layer);
        const finished = line.done === line.total;
        if (last === undefined || finished || now() - last >= 1000) {
          printedAt.set(line.layer, now());
          const percent = line.total > 0 ? ` (${Math.floor((line.done / line.total) * 100)}%)` : '';
          io.err(`  ${short(line.layer)}: ${finished ? 'downloaded' : 'downloading'} ${mb(line.done)} of ${mb(line.total)}${percent}`);
        }
        break;
      }
      case 'unpacking':
        io.err(`  ${short(line.layer)}: unpacking`);
        break;
      case 'building':
        io.err('  building the root filesystem');
        break;
      case 'cached':
        io.err(`Image ${image} is on this host (${short(line.digest)})`);
        break;
      case 'ready':
        io.err(`Image ready: ${line.image_ref.digest}`);
        return line.image_ref.digest;
      case 'error':
        throw new ApiError(422, line.error);
    }
  }
  throw new ApiError(0, 'the pull ended without an answer');
}

export const imagePull: CommandSpec = {
  path: ['image', 'pull'],
  description: 'fetch an image onto the host and build its root filesystem, showing progress',
  args: ['<image>'],
  async handler({ client, io }, [image]) {
    const digest = await pullWithProgress(client, io, image as string);
    io.out(digest);
    return 0;
  },
};
