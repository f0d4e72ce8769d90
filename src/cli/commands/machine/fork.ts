import { type CommandSpec, machinePath } from '../../command.ts';
import { json } from '../../output.ts';

interface MachineJson { id: string; name: string; private_ip: string; instance_id: string }

export const machineFork: CommandSpec = {
  path: ['machine', 'fork'],
  description: 'fork a running machine: new machines that start from its memory, while it runs on',
  args: ['<id>'],
  needsApp: true,
  options: [
    { flags: '-c, --count <n>', description: 'how many children (1 to 16)', default: '1' },
    { flags: '-d, --detach', description: 'do not wait for the children to start' },
  ],
  async handler({ client, io }, [id], options) {
    const count = Number(options.count);
    const children = await client.post<MachineJson[]>(`/hangar${machinePath(options.app, id, '/fork')}`, { count });
    if (!options.detach) {
      for (const child of children) await client.get(machinePath(options.app, child.id, `/wait?state=started&version=${child.instance_id}&timeout=60`));
    }
    io.out(options.json ? json(children) : children.map((child) => `Machine ${child.id} (${child.name}, ${child.private_ip}) forked from ${id}`).join('\n'));
    return 0;
  },
};
