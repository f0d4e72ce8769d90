import type { CommandSpec } from '../../command.ts';

export const appsCreate: CommandSpec = {
  path: ['apps', 'create'],
  description: 'create an app',
  args: ['<name>'],
  options: [{ flags: '-o, --org <slug>', description: 'organization slug', default: 'personal' }],
  async handler({ client, io }, [name], options) {
    const app = await client.post<{ id: string }>('/v1/apps', { name, org_slug: options.org });
    io.out(options.json ? JSON.stringify(app, null, 2) : `New app created: ${name}`);
    return 0;
  },
};
