import type { CommandSpec } from '../../command.ts';

export const appsDestroy: CommandSpec = {
  path: ['apps', 'destroy'],
  description: 'destroy an app and all its machines',
  args: ['<name>'],
  // flyctl asks first unless given -y; hangar never asks, and takes the flag so that flyctl's habit works.
  options: [{ flags: '-y, --yes', description: 'accepted as flyctl takes it (hangar does not ask before destroying)' }],
  async handler({ client, io }, [name]) {
    await client.delete(`/v1/apps/${encodeURIComponent(name as string)}`);
    io.out(`Destroyed app ${name}`);
    return 0;
  },
};
