/** `machine run` (create and start, then wait for started) and `machine create` (create only). */
import { type CommandSpec, machinePath } from '../../command.ts';
import { json } from '../../output.ts';
import { pullWithProgress } from '../image/pull.ts';
import { applyConfigFlags, CONFIG_FLAGS } from './config-flags.ts';

interface MachineJson { id: string; name: string; state: string; instance_id: string; private_ip: string; region: string }

function runSpec(verb: 'run' | 'create'): CommandSpec {
  return {
    path: ['machine', verb],
    description: verb === 'run' ? 'create a machine from an image and start it' : 'create a machine from an image without starting it',
    args: ['<image>', '[command...]'],
    needsApp: true,
    options: [
      { flags: '-n, --name <name>', description: 'machine name (generated if omitted)' },
      { flags: '-r, --region <region>', description: 'region code' },
      ...CONFIG_FLAGS,
      ...(verb === 'run' ? [{ flags: '-d, --detach', description: 'return without waiting for the machine to start' }] : []),
    ],
    async handler({ client, io }, [image, ...command], options) {
      const config = applyConfigFlags({ image }, options, command);
      // Pulled first, with progress; the create then finds the image on the host.
      await pullWithProgress(client, io, image as string);
      const body = { name: options.name, region: options.region, config, skip_launch: verb === 'create' };
      const machine = await client.post<MachineJson>(machinePath(options.app), body);
      if (verb === 'run' && !options.detach) {
        await client.get(machinePath(options.app, machine.id, `/wait?state=started&version=${machine.instance_id}&timeout=60`));
      }
      if (options.json) {
        io.out(json(await client.get(machinePath(options.app, machine.id))));
        return 0;
      }
      io.out(`Machine ${machine.id} (${machine.name}) ${verb === 'run' && !options.detach ? 'started' : 'created'}`);
      io.out(`  region: ${machine.region}  private ip: ${machine.private_ip}  version: ${machine.instance_id}`);
      return 0;
    },
  };
}

export const machineRun = runSpec('run');
export const machineCreate = runSpec('create');
