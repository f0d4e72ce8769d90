import { type CommandSpec, machinePath } from '../../command.ts';

export const machineDestroy: CommandSpec = {
  path: ['machine', 'destroy'],
  description: 'destroy a machine for good',
  args: ['<id...>'],
  needsApp: true,
  options: [
    { flags: '-f, --force', description: 'kill it first if it is running' },
    { flags: '--lease-nonce <nonce>', description: 'the lease nonce, if the machine is leased' },
  ],
  async handler({ client, io }, ids, options) {
    const headers: Record<string, string> = options.leaseNonce ? { 'fly-machine-lease-nonce': options.leaseNonce } : {};
    for (const id of ids) {
      await client.delete(machinePath(options.app, id, options.force ? '?force=true' : ''), headers);
      io.out(`Machine ${id} destroyed`);
    }
    return 0;
  },
};
