import { type CommandSpec, machinePath } from '../../command.ts';
import { json } from '../../output.ts';
import { applyConfigFlags, CONFIG_FLAGS } from './config-flags.ts';

interface MachineJson { id: string; instance_id: string; config: Record<string, unknown> }

export const machineUpdate: CommandSpec = {
  path: ['machine', 'update'],
  description: 'change a machine\'s config (a new version; a running machine restarts on it)',
  args: ['<id>', '[command...]'],
  needsApp: true,
  options: [
    { flags: '-i, --image <image>', description: 'new image' },
    { flags: '--skip-start', description: 'do not start the machine after updating it' },
    { flags: '--lease-nonce <nonce>', description: 'the lease nonce, if the machine is leased' },
    ...CONFIG_FLAGS,
  ],
  async handler({ client, io }, [id, ...command], options) {
    const current = await client.get<MachineJson>(machinePath(options.app, id));
    const config = applyConfigFlags(structuredClone(current.config), options, command);
    if (options.image) config.image = options.image;
    const headers: Record<string, string> = options.leaseNonce ? { 'fly-machine-lease-nonce': options.leaseNonce } : {};
    const updated = await client.post<MachineJson>(machinePath(options.app, id), { config, current_version: current.instance_id, skip_launch: options.skipStart === true }, headers);
    io.out(options.json ? json(updated) : `Machine ${id} updated to version ${updated.instance_id}`);
    return 0;
  },
};
