import { type CommandSpec, machinePath } from '../../command.ts';
import { age, json, table } from '../../output.ts';

interface MachineJson {
  id: string; name: string; state: string; region: string; private_ip: string; updated_at: string; cordoned: boolean;
  image_ref: { registry: string; repository: string; tag: string };
}

export const machineList: CommandSpec = {
  path: ['machine', 'list'],
  description: 'list the machines of an app',
  needsApp: true,
  options: [
    { flags: '--state <states>', description: 'only these states (comma-separated)' },
    { flags: '--all', description: 'include destroyed machines' },
  ],
  async handler({ client, io }, _args, options) {
    const query = new URLSearchParams({ summary: 'true' });
    if (options.state) query.set('state', options.state);
    if (options.all) query.set('include_deleted', 'true');
    const machines = await client.get<MachineJson[]>(`${machinePath(options.app)}?${query}`);
    if (options.json) {
      io.out(json(machines));
      return 0;
    }
    if (machines.length === 0) {
      io.out(`No machines in app ${options.app}`);
      return 0;
    }
    io.out(table(
      ['id', 'name', 'state', 'region', 'image', 'ip address', 'updated'],
      machines.map((m) => [m.id, m.name, m.cordoned ? `${m.state} (cordoned)` : m.state, m.region, `${m.image_ref.repository}:${m.image_ref.tag}`, m.private_ip, age(m.updated_at)]),
    ));
    return 0;
  },
};
