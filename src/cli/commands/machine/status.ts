import { type CommandSpec, machinePath } from '../../command.ts';
import { json, table } from '../../output.ts';

interface EventJson { type: string; status: string; source: string; timestamp: number; request?: { exit_event?: { exit_code: number } } }
interface MachineJson {
  id: string; name: string; state: string; region: string; instance_id: string; private_ip: string; cordoned: boolean;
  created_at: string; updated_at: string; image_ref: { registry: string; repository: string; tag: string; digest: string };
  config: { guest: { cpu_kind: string; cpus: number; memory_mb: number } };
  events: EventJson[];
}

export const machineStatus: CommandSpec = {
  path: ['machine', 'status'],
  description: 'show a machine and its recent events',
  args: ['<id>'],
  needsApp: true,
  async handler({ client, io }, [id], options) {
    const m = await client.get<MachineJson>(machinePath(options.app, id));
    if (options.json) {
      io.out(json(m));
      return 0;
    }
    const guest = m.config.guest;
    io.out(`Machine ID: ${m.id}`);
    io.out(`Name:       ${m.name}`);
    io.out(`State:      ${m.state}${m.cordoned ? ' (cordoned)' : ''}`);
    io.out(`Region:     ${m.region}`);
    io.out(`Image:      ${m.image_ref.registry}/${m.image_ref.repository}:${m.image_ref.tag}${m.image_ref.digest ? ` (${m.image_ref.digest.slice(0, 19)})` : ''}`);
    io.out(`Size:       ${guest.cpu_kind} ${guest.cpus} cpu, ${guest.memory_mb} MB`);
    io.out(`Version:    ${m.instance_id}`);
    io.out(`Private IP: ${m.private_ip}`);
    io.out(`Created:    ${m.created_at}`);
    io.out('');
    io.out('Events');
    io.out(table(['state', 'event', 'source', 'timestamp', 'info'], m.events.map((e) => [
      e.status, e.type, e.source, new Date(e.timestamp).toISOString(),
      e.request?.exit_event ? `exit_code=${e.request.exit_event.exit_code}` : '',
    ])));
    return 0;
  },
};
