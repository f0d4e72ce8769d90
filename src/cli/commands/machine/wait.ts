import { type CommandSpec, machinePath } from '../../command.ts';
import { json } from '../../output.ts';

export const machineWait: CommandSpec = {
  path: ['machine', 'wait'],
  description: 'wait for a machine to reach a state',
  args: ['<id>'],
  needsApp: true,
  options: [
    { flags: '--state <state>', description: 'started, stopped, suspended, destroyed, failed or settled', default: 'settled' },
    { flags: '--wait-timeout <seconds>', description: 'give up after this many seconds (max 60)', default: '60' },
  ],
  async handler({ client, io }, [id], options) {
    const query = new URLSearchParams({ state: options.state, timeout: options.waitTimeout });
    const result = await client.get<{ state: string }>(machinePath(options.app, id, `/wait?${query}`));
    io.out(options.json ? json(result) : `Machine ${id} is ${result.state}`);
    return 0;
  },
};
