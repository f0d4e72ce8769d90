/**
 * `hangar fly-env`: the environment that points the real `fly` CLI at this hangar,
 * as shell exports: its three API bases, the token, a config directory of its own,
 * and the switches that keep flyctl from sending the token to Fly's metrics and
 * trace collectors or checking Fly for updates and incidents.
 */
import type { CommandSpec } from '../command.ts';

const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

export const flyEnv: CommandSpec = {
  path: ['fly-env'],
  description: 'print the environment that points the real `fly` CLI at this hangar (eval "$(hangar fly-env)")',
  options: [{ flags: '--config-dir <dir>', description: 'flyctl\'s configuration directory for hangar', default: '~/.fly-hangar' }],
  async handler({ client, io }, _args, options) {
    const base = client.baseUrl.replace(/\/+$/, '');
    const token = client.token;
    if (!token) throw new Error('no API token: set HANGAR_API_TOKEN, or run this where `hangar serve` keeps its data directory');
    const configDir = String(options.configDir).replace(/^~(?=\/|$)/, '$HOME');
    const lines = [
      ['FLY_API_BASE_URL', quote(base)], ['FLY_UIEX_BASE_URL', quote(base)], ['FLY_FLAPS_BASE_URL', quote(base)],
      ['FLY_API_TOKEN', quote(token)], ['FLY_CONFIG_DIR', `"${configDir}"`],
      // The token would otherwise reach Fly's metrics (with it) and trace collector (in a header, over plain HTTP).
      ['FLY_SEND_METRICS', '0'], ['FLY_TRACE_COLLECTOR_URL', '127.0.0.1'],
      ['FLY_NO_UPDATE_CHECK', '1'], ['FLY_NO_INCIDENTS_CHECK', '1'], ['FLY_SYNTHETICS_AGENT', '0'],
    ];
    for (const [name, value] of lines) io.out(`export ${name}=${value}`);
    io.out('# then: fly deploy --image IMAGE --dns-checks=false (see the README: "The real fly CLI")');
    return 0;
  },
};
