import { type CommandSpec, machinePath } from '../../command.ts';
import { json } from '../../output.ts';

interface MachineJson { id: string; host_id?: string; private_ip: string; state: string }

export const machineMove: CommandSpec = {
  path: ['machine', 'move'],
  description: 'move a machine to another host of the cluster (--host) or of a region (--region); a suspended one resumes there with its memory',
  args: ['<id>'],
  needsApp: true,
  options: [
    { flags: '--host <host-id>', description: 'the host it moves to' },
    { flags: '--region <region>', description: 'a region: hangar picks a host there, as for a new machine' },
    { flags: '--suspend', description: 'a started machine is suspended first, and resumes on the new host with its memory' },
    { flags: '--stop', description: 'a started machine is stopped first (if it is not suspended)' },
  ],
  async handler({ client, io }, [id], options) {
    if ((options.host === undefined) === (options.region === undefined)) {
      io.err('say where to move it: --host <id> or --region <region>');
      return 2;
    }
    const where = options.host ? { host: options.host } : { region: options.region };
    const how = { ...(options.suspend ? { suspend: true } : {}), ...(options.stop ? { stop: true } : {}) };
    const moved = await client.post<MachineJson>(`/hangar${machinePath(options.app, id, '/move')}`, { ...where, ...how });
    io.out(options.json ? json(moved) : `Machine ${moved.id} moved to host ${moved.host_id} (${moved.private_ip}), ${moved.state}`);
    return 0;
  },
};
