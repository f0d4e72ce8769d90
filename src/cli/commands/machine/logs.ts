import { type CommandSpec, machinePath } from '../../command.ts';

export const machineLogs: CommandSpec = {
  path: ['machine', 'logs'],
  description: 'print a machine\'s console output (its process\'s stdout and stderr)',
  args: ['<id>'],
  needsApp: true,
  options: [
    { flags: '-n, --tail <lines>', description: 'how many of the last lines to print', default: '100' },
    { flags: '-f, --follow', description: 'keep printing new lines until interrupted' },
  ],
  async handler({ client, io }, [id], options) {
    const query = new URLSearchParams({ tail: String(options.tail) });
    if (options.follow) query.set('follow', 'true');
    const path = `/hangar${machinePath(options.app, id, `/logs?${query}`)}`;
    for await (const line of client.lines(path)) io.out(line);
    return 0;
  },
};
