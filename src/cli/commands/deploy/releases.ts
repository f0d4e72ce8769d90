/** `hangar releases`: an app's releases, newest first. */
import type { CommandSpec } from '../../command.ts';
import { json, table } from '../../output.ts';

interface ReleaseJson { version: number; status: string; strategy: string; image: string; description: string; reason: string; created_at: string }

export const releasesList: CommandSpec = {
  path: ['releases'],
  description: 'list an app\'s releases (each deploy is one), newest first',
  needsApp: true,
  options: [{ flags: '-n, --limit <count>', description: 'how many', default: '25' }],
  async handler({ client, io }, _args, options) {
    const { releases } = await client.get<{ releases: ReleaseJson[] }>(`/hangar/v1/apps/${encodeURIComponent(options.app)}/releases?limit=${encodeURIComponent(options.limit)}`);
    if (options.json) {
      io.out(json(releases));
      return 0;
    }
    io.out(table(['version', 'status', 'strategy', 'image', 'when', 'note'], releases.map((release) => [
      `v${release.version}`, release.status, release.strategy, release.image, release.created_at, release.reason || release.description,
    ])));
    return 0;
  },
};
