/** `hangar status`: an app, its newest release, and its machines by process group and region, with their checks. */
import type { CommandSpec } from '../../command.ts';
import { json, table } from '../../output.ts';

interface MachineJson {
  id: string; state: string; region: string; cordoned: boolean; host_id?: string; updated_at: string;
  config: { image: string; metadata?: Record<string, string> };
  checks?: Array<{ name: string; status: string }>;
}
interface ReleaseJson { version: number; status: string; image: string; strategy: string; created_at: string; reason: string }

const app = (name: string) => encodeURIComponent(name);

/** "2 passing, 1 critical", or "-" with none. */
function checkSummary(checks: MachineJson['checks']): string {
  if (!checks?.length) return '-';
  const counts = new Map<string, number>();
  for (const check of checks) counts.set(check.status, (counts.get(check.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
}

export const appStatus: CommandSpec = {
  path: ['status'],
  description: 'show an app: its newest release, and its machines by process group and region, with their checks',
  needsApp: true,
  async handler({ client, io }, _args, options) {
    const [shown, machines, { releases }] = await Promise.all([
      client.get<{ name: string; status: string; organization: { slug: string } }>(`/v1/apps/${app(options.app)}`),
      client.get<MachineJson[]>(`/v1/apps/${app(options.app)}/machines`),
      client.get<{ releases: ReleaseJson[] }>(`/hangar/v1/apps/${app(options.app)}/releases?limit=1`),
    ]);
    const group = (m: MachineJson) => m.config.metadata?.fly_process_group ?? '(none)';
    const sorted = [...machines].sort((a, b) => group(a).localeCompare(group(b)) || a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
    if (options.json) {
      io.out(json({ app: shown, release: releases[0] ?? null, machines: sorted }));
      return 0;
    }
    const [release] = releases;
    io.out(`App:      ${shown.name} (${shown.organization.slug}), ${shown.status}`);
    io.out(`Release:  ${release ? `v${release.version} ${release.status} (${release.strategy}), ${release.image}, ${release.created_at}${release.reason ? `: ${release.reason}` : ''}` : 'none (never deployed)'}`);
    io.out('');
    if (sorted.length === 0) {
      io.out('No machines');
      return 0;
    }
    io.out(table(['group', 'region', 'machine', 'state', 'checks', 'release', 'image', 'host'], sorted.map((m) => [
      group(m), m.region, m.id, `${m.state}${m.cordoned ? ' (cordoned)' : ''}`, checkSummary(m.checks),
      m.config.metadata?.fly_release_version ? `v${m.config.metadata.fly_release_version}` : '-', m.config.image, m.host_id ?? '-',
    ])));
    return 0;
  },
};
