import { type CommandSpec, machinePath } from '../../command.ts';
import { json } from '../../output.ts';

interface MachineJson { id: string; name: string; region: string; instance_id: string; config: Record<string, unknown> }

export const machineClone: CommandSpec = {
  path: ['machine', 'clone'],
  description: 'create a new machine with the config of an existing one (volumes are not cloned)',
  args: ['<id>'],
  needsApp: true,
  options: [
    { flags: '-n, --name <name>', description: 'name of the clone' },
    { flags: '-r, --region <region>', description: 'region of the clone (default: the source\'s)' },
    { flags: '-d, --detach', description: 'do not wait for the clone to start' },
  ],
  async handler({ client, io }, [id], options) {
    const source = await client.get<MachineJson>(machinePath(options.app, id));
    const config = { ...source.config };
    if (config.mounts) {
      delete config.mounts;
      io.err('note: the source mounts a volume; the clone mounts none');
    }
    const clone = await client.post<MachineJson>(machinePath(options.app), { name: options.name, region: options.region ?? source.region, config });
    if (!options.detach) await client.get(machinePath(options.app, clone.id, `/wait?state=started&version=${clone.instance_id}&timeout=60`));
    io.out(options.json ? json(clone) : `Machine ${clone.id} (${clone.name}) cloned from ${id}`);
    return 0;
  },
};
