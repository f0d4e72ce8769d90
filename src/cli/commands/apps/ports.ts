import type { CommandSpec } from '../../command.ts';
import { json, table } from '../../output.ts';

interface PortJson { port: number; handlers: string[]; listen?: string; host?: string }

export const appsPorts: CommandSpec = {
  path: ['apps', 'ports'],
  description: "show where the edge proxy serves each of an app's public ports",
  args: ['<app>'],
  async handler({ client, io }, [app], options) {
    const { ports } = await client.get<{ ports: PortJson[] }>(`/hangar/v1/apps/${encodeURIComponent(app as string)}/ports`);
    if (options.json) io.out(json(ports));
    else io.out(table(['port', 'handlers', 'listen', 'host'], ports.map((p) => [p.port, p.handlers.join(',') || 'tcp', p.listen ?? '-', p.host ?? '-'])));
    return 0;
  },
};
