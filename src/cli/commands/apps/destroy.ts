import type { CommandSpec } from '../../command.ts';

export const appsDestroy: CommandSpec = {
  path: ['apps', 'destroy'],
  description: 'destroy an app and all its machines',
  args: ['<name>'],
  async handler({ client, io }, [name]) {
    await client.delete(`/v1/apps/${encodeURIComponent(name as string)}`);
    io.out(`Destroyed app ${name}`);
    return 0;
  },
};
