/**
 * The network port: reads the host's state (`ip -j`, `nft -j`, sysctls) and runs
 * plan steps. Everything else in src/network is pure; this is the side of it that
 * touches the host, each command with a timeout.
 */
import { readFile } from 'node:fs/promises';
import { type CommandError, run } from '../commands/run.ts';
import type { NetworkLayout } from './layout.ts';
import { type Observed, type ObservedHost, parseLinks, parseNftCounters, parseNftTable, parseRoutes, parseSysctls } from './observed.ts';
import { FORWARDING_SYSCTLS, natTableName, type Step } from './plan.ts';

const COMMAND_TIMEOUT_MS = 15_000;

export interface NetworkPort {
  /** The root namespace's links, addresses and routes. */
  observeHost(): Promise<ObservedHost>;
  /** Everything convergence compares for one namespace. */
  observe(layout: NetworkLayout, options: { nat: boolean }): Promise<Observed>;
  /** Runs steps in order; the first that fails (and is not tolerant) stops them, named in the error. */
  apply(steps: Step[]): Promise<void>;
  /** The packets each named counter of the namespace's firewall has counted (none without the table). */
  counters(layout: NetworkLayout): Promise<Map<string, number>>;
}

/** Runs one command with a timeout: its standard output, or an error naming it with its standard error. */
export async function exec(argv: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const [bin, ...args] = argv;
  try {
    return (await run(bin as string, args, { timeout: COMMAND_TIMEOUT_MS, input, env })).stdout;
  } catch (error) {
    throw new Error(`"${argv.join(' ')}" failed: ${(error as Partial<CommandError>).stderr?.trim() || (error as Error).message}`);
  }
}

const json = async (argv: string[]): Promise<unknown> => JSON.parse((await exec(argv)) || '[]');
const jsonOrUndefined = (argv: string[]): Promise<unknown> => json(argv).catch(() => undefined);

export const systemNetwork: NetworkPort = {
  async observeHost() {
    const [links, routes6, routes4] = await Promise.all([json(['ip', '-j', 'addr', 'show']), json(['ip', '-j', '-6', 'route', 'show']), json(['ip', '-j', '-4', 'route', 'show'])]);
    return { links: parseLinks(links), routes: [...parseRoutes(routes6, 6), ...parseRoutes(routes4, 4)] };
  },

  async observe(layout, options) {
    const host = await this.observeHost();
    if (options.nat) {
      host.ipForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() === '1';
    }
    const nat = await jsonOrUndefined(['nft', '-j', 'list', 'table', 'ip', natTableName(layout)]);
    if (nat) host.nat = parseNftTable(nat).shape;
    const namespaces = (await json(['ip', '-j', 'netns', 'list'])) as Array<{ name: string }>;
    if (!namespaces.some((entry) => entry.name === layout.ns)) return { host };
    const inNs = (...args: string[]) => ['ip', '-n', layout.ns, '-j', ...args];
    const [links, routes6, routes4, sysctls, firewall] = await Promise.all([
      json(inNs('addr', 'show')), json(inNs('-6', 'route', 'show')), json(inNs('-4', 'route', 'show')),
      exec(['ip', 'netns', 'exec', layout.ns, 'sysctl', '-n', ...FORWARDING_SYSCTLS]),
      jsonOrUndefined(['ip', 'netns', 'exec', layout.ns, 'nft', '-j', 'list', 'table', 'inet', 'hangar']),
    ]);
    return {
      host,
      ns: {
        links: parseLinks(links),
        routes: [...parseRoutes(routes6, 6), ...parseRoutes(routes4, 4)],
        forwarding: parseSysctls(sysctls, FORWARDING_SYSCTLS) as Record<typeof FORWARDING_SYSCTLS[number], boolean>,
        firewall: firewall ? parseNftTable(firewall) : undefined,
      },
    };
  },

  async counters(layout) {
    const listed = await jsonOrUndefined(['ip', 'netns', 'exec', layout.ns, 'nft', '-j', 'list', 'counters', 'table', 'inet', 'hangar']);
    return listed ? parseNftCounters(listed) : new Map();
  },

  async apply(steps) {
    for (const step of steps) {
      const { argv, input, tolerant } = Array.isArray(step) ? { argv: step, input: undefined, tolerant: false } : step;
      try {
        await exec(argv, input);
      } catch (error) {
        if (!tolerant) throw error;
      }
    }
  },
};

/** Runs steps on this host (tests and benchmarks that build namespaces by hand). */
export function runCommands(steps: Step[], options: { tolerant?: boolean } = {}): Promise<void> {
  return systemNetwork.apply(options.tolerant ? steps.map((step) => ({ argv: Array.isArray(step) ? step : step.argv, input: Array.isArray(step) ? undefined : step.input, tolerant: true })) : steps);
}
