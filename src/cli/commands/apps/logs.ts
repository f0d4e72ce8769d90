/**
 * `hangar logs`: the console of every machine of an app, each line prefixed with
 * its machine and region; `-f` follows them all at once, lines as they come.
 */
import { type CommandSpec, machinePath } from '../../command.ts';

interface MachineJson { id: string; region: string }

export const appLogs: CommandSpec = {
  path: ['logs'],
  description: 'print the console of every machine of the app, prefixed with the machine and region',
  needsApp: true,
  options: [
    { flags: '-n, --tail <lines>', description: 'how many of the last lines of each machine', default: '100' },
    { flags: '-f, --follow', description: 'keep printing new lines until interrupted' },
    { flags: '-m, --machine <id>', description: 'only this machine' },
  ],
  async handler({ client, io }, _args, options) {
    const machines = (await client.get<MachineJson[]>(machinePath(options.app))).filter((m) => !options.machine || m.id === options.machine);
    if (machines.length === 0) throw new Error(options.machine ? `app ${options.app} has no machine ${options.machine}` : `app ${options.app} has no machines`);
    const query = new URLSearchParams({ tail: String(options.tail), ...(options.follow ? { follow: 'true' } : {}) });
    const print = async (machine: MachineJson) => {
      for await (const line of client.lines(`/hangar${machinePath(options.app, machine.id, `/logs?${query}`)}`)) io.out(`${machine.id} ${machine.region} | ${line}`);
    };
    // Without -f, one machine's lines after another's; with it, all of them as they come.
    if (options.follow) await Promise.all(machines.map(print));
    else for (const machine of machines) await print(machine);
    return 0;
  },
};
