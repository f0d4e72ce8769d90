import { type CommandSpec, machinePath } from '../../command.ts';
import { json, table } from '../../output.ts';

interface LeaseJson { data: { nonce: string; owner: string; description: string; expires_at: number; version: string } }

export const machineLeasesView: CommandSpec = {
  path: ['machine', 'leases', 'view'],
  description: 'show the lease on a machine',
  args: ['<id>'],
  needsApp: true,
  async handler({ client, io }, [id], options) {
    const { data } = await client.get<LeaseJson>(machinePath(options.app, id, '/lease'));
    if (options.json) io.out(json(data));
    else io.out(table(['machine', 'owner', 'description', 'expires', 'nonce'], [[id, data.owner, data.description, new Date(data.expires_at * 1000).toISOString(), data.nonce]]));
    return 0;
  },
};

export const machineLeasesClear: CommandSpec = {
  path: ['machine', 'leases', 'clear'],
  description: 'release the lease on a machine, whoever holds it',
  args: ['<id>'],
  needsApp: true,
  async handler({ client, io }, [id], options) {
    const { data } = await client.get<LeaseJson>(machinePath(options.app, id, '/lease'));
    await client.delete(machinePath(options.app, id, '/lease'), { 'fly-machine-lease-nonce': data.nonce });
    io.out(`Lease on machine ${id} cleared`);
    return 0;
  },
};
