/** `hangar hosts list|cordon|uncordon|drain|forget|rejoin`: the hosts machines are placed on. */
import type { DrainReportJson, HostJson } from '../../../api/responses.ts';
import type { CommandSpec } from '../../command.ts';
import { json, table } from '../../output.ts';

export const hostsList: CommandSpec = {
  path: ['hosts', 'list'],
  description: 'list hosts with their capacity and what their machines reserve',
  args: [],
  async handler({ client, io }, _args, options) {
    const hosts = await client.get<HostJson[]>('/hangar/v1/hosts');
    if (options.json) io.out(json(hosts));
    else io.out(table(['id', 'region', 'status', 'number', 'machines', 'cpus', 'memory', 'address'], hosts.map(row)));
    return 0;
  },
};

function row(host: HostJson): Array<string | number> {
  const of = (reserved: number, capacity: number | null, unit = '') => `${reserved}${unit}/${capacity === null ? 'unlimited' : `${capacity}${unit}`}`;
  return [
    host.id, host.any_region ? `${host.region} (any)` : host.region, host.status, host.host_number ?? '-', host.machines,
    of(host.reserved.cpus, host.capacity.cpus), of(host.reserved.memory_mb, host.capacity.memory_mb, ' MB'), host.address || '-',
  ];
}

function hostCommand(action: 'cordon' | 'uncordon' | 'forget' | 'rejoin', description: string): CommandSpec {
  return {
    path: ['hosts', action],
    description,
    args: ['<host-id>'],
    async handler({ client, io }, [id], options) {
      const host = await client.post<HostJson>(`/hangar/v1/hosts/${encodeURIComponent(id as string)}/${action}`);
      if (options.json) io.out(json(host));
      else io.out(`host ${host.id} is ${host.status}`);
      return 0;
    },
  };
}

export const hostsCordon = hostCommand('cordon', 'stop placing new machines on a host (its machines stay)');
export const hostsUncordon = hostCommand('uncordon', 'place new machines on a host again');
export const hostsForget = hostCommand('forget', 'write off a lost host: its machines and volumes become destroyed; it may register again only after rejoin');
export const hostsRejoin = hostCommand('rejoin', 'let a forgotten host register again');

export const hostsDrain: CommandSpec = {
  path: ['hosts', 'drain'],
  description: 'cordon a host and move its machines to other hosts of their region (started ones suspended first where they can be); the rest are listed',
  args: ['<host-id>'],
  options: [{ flags: '--stop', description: 'stop the running machines that cannot be suspended, and move them too' }],
  async handler({ client, io }, [id], options) {
    const report = await client.post<DrainReportJson>(`/hangar/v1/hosts/${encodeURIComponent(id as string)}/drain`, { stop: options.stop === true });
    if (options.json) {
      io.out(json(report));
      return 0;
    }
    io.out([
      `host ${id} cordoned; ${report.moved.length} machine(s) moved, ${report.left.length} left`,
      ...report.moved.map((m) => `moved ${m.id} (${m.app}) to ${m.to}`),
      ...report.left.map((m) => `left ${m.id} (${m.app}, ${m.state}): ${m.reason}`),
    ].join('\n'));
    return report.left.length > 0 ? 1 : 0;
  },
};
