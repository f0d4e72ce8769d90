/** Flags that shape a machine config, shared by `run`, `create` and `update` (flyctl's names). */
import type { OptionSpec, Options } from '../../command.ts';
import { parsePairs } from '../../command.ts';

export const CONFIG_FLAGS: OptionSpec[] = [
  { flags: '-e, --env <KEY=VALUE>', description: 'set an environment variable (repeatable)', repeat: true },
  { flags: '--metadata <KEY=VALUE>', description: 'set a metadata key (repeatable)', repeat: true },
  { flags: '-p, --port <PORT>', description: 'expose a service: [external:]internal[/tcp|udp][:handler...], e.g. 80:8080/tcp:http (repeatable)', repeat: true },
  { flags: '--vm-size <SIZE>', description: 'named size, e.g. shared-cpu-1x, performance-2x' },
  { flags: '--vm-cpus <N>', description: 'number of CPUs' },
  { flags: '--vm-memory <MB>', description: 'memory in MB (a multiple of 256)' },
  { flags: '--restart <POLICY>', description: 'restart policy: no, on-failure, always' },
  { flags: '--autostop <MODE>', description: 'for --port services: off, stop or suspend' },
  { flags: '--autostart', description: 'for --port services: start machines when requests arrive' },
  { flags: '--entrypoint <CMD>', description: 'override the image entrypoint (split on spaces)' },
  { flags: '--schedule <INTERVAL>', description: 'hourly, daily, weekly or monthly' },
];

type Config = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Applies the config flags to `config` (mutated and returned); `command` sets init.cmd. */
export function applyConfigFlags(config: Config, options: Options, command: string[] = []): Config {
  const env = parsePairs(options.env, '--env');
  if (Object.keys(env).length) config.env = { ...(config.env ?? {}), ...env };
  const metadata = parsePairs(options.metadata, '--metadata');
  if (Object.keys(metadata).length) config.metadata = { ...(config.metadata ?? {}), ...metadata };
  if (options.vmSize) {
    config.size = options.vmSize;
    delete config.guest;
  }
  if (options.vmCpus || options.vmMemory) {
    config.guest = { ...(config.guest ?? {}) };
    if (options.vmCpus) config.guest.cpus = Number(options.vmCpus);
    if (options.vmMemory) config.guest.memory_mb = Number(options.vmMemory);
  }
  if (options.restart) config.restart = { policy: options.restart };
  if (options.schedule) config.schedule = options.schedule;
  if (options.entrypoint) config.init = { ...(config.init ?? {}), entrypoint: String(options.entrypoint).split(' ').filter(Boolean) };
  if (command.length) config.init = { ...(config.init ?? {}), cmd: command };
  const ports = (options.port ?? []) as string[];
  if (ports.length) {
    config.services = ports.map((spec) => ({
      ...parsePort(spec),
      ...(options.autostop ? { autostop: options.autostop } : {}),
      ...(options.autostart ? { autostart: true } : {}),
    }));
  }
  return config;
}

export function parsePort(spec: string): Config {
  const match = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?((?::[a-z_]+)*)$/.exec(spec);
  if (!match) throw new Error(`--port takes [external:]internal[/tcp|udp][:handler...], got "${spec}"`);
  const internal = Number(match[2]);
  const external = match[1] ? Number(match[1]) : internal;
  const handlers = (match[4] ?? '').split(':').filter(Boolean);
  return { protocol: match[3] ?? 'tcp', internal_port: internal, ports: [{ port: external, handlers }] };
}
