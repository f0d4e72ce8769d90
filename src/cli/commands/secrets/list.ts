import type { CommandSpec } from '../../command.ts';
import { json, table } from '../../output.ts';

interface SecretJson { name: string; digest: string; updated_at?: string }

export const secretsList: CommandSpec = {
  path: ['secrets', 'list'],
  description: 'list the app\'s secrets: names and digests, never values',
  needsApp: true,
  async handler({ client, io }, _args, options) {
    const { secrets } = await client.get<{ secrets: SecretJson[] }>(`/v1/apps/${encodeURIComponent(options.app)}/secrets`);
    if (options.json) io.out(json(secrets));
    else io.out(table(['name', 'digest', 'updated'], secrets.map((s) => [s.name, s.digest, s.updated_at ?? ''])));
    return 0;
  },
};
