import type { CommandSpec } from '../../command.ts';
import { json, table } from '../../output.ts';

interface AppJson { name: string; status: string; machine_count: number; machine_states?: Record<string, number>; organization: { slug: string } }

/** "3 (2 started, 1 suspended)". */
function machines(app: AppJson): string {
  const states = Object.entries(app.machine_states ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `${n} ${state}`);
  return states.length > 0 ? `${app.machine_count} (${states.join(', ')})` : String(app.machine_count);
}

export const appsList: CommandSpec = {
  path: ['apps', 'list'],
  description: 'list apps',
  options: [{ flags: '-o, --org <slug>', description: 'only this organization' }],
  async handler({ client, io }, _args, options) {
    const query = options.org ? `?org_slug=${encodeURIComponent(options.org)}` : '';
    const { apps } = await client.get<{ apps: AppJson[] }>(`/v1/apps${query}`);
    if (options.json) io.out(json(apps));
    else io.out(table(['name', 'org', 'status', 'machines'], apps.map((a) => [a.name, a.organization.slug, a.status, machines(a)])));
    return 0;
  },
};
