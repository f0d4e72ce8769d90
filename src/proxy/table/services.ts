/**
 * What a machine's `config.services` expose, read for one public port: whether the
 * machine serves it, on which port inside, with which handlers and limits. Pure.
 */
import type { Autostop, MachineConfig, MachineService } from '../../domain/config.ts';

/** Fly's defaults: concurrency counted in connections, soft limit 20, no hard limit. */
export const DEFAULT_SOFT_LIMIT = 20;

export interface Concurrency {
  type: 'connections' | 'requests';
  softLimit: number;
  hardLimit: number;
}

/** One machine's service behind one public port. */
export interface ServiceBinding {
  /** The port the machine listens on for it. */
  internalPort: number;
  handlers: string[];
  forceHttps: boolean;
  concurrency: Concurrency;
  autostart: boolean;
  autostop: Autostop;
  minMachinesRunning: number;
}

interface PortEntry {
  port?: number;
  start_port?: number;
  end_port?: number;
  handlers?: string[];
  force_https?: boolean;
}

/** The machine's service for `port` (TCP), or undefined when it exposes none there. */
export function serviceOn(config: MachineConfig, port: number): ServiceBinding | undefined {
  for (const service of config.services ?? []) {
    if (service.protocol !== 'tcp') continue;
    const entry = (service.ports as PortEntry[] | undefined)?.find((p) => covers(p, port));
    if (entry) return binding(service, entry, port);
  }
  return undefined;
}

/** Every public TCP port the machine's services expose. */
export function publicPorts(config: MachineConfig): number[] {
  const ports = new Set<number>();
  for (const service of config.services ?? []) {
    if (service.protocol !== 'tcp') continue;
    for (const entry of (service.ports as PortEntry[] | undefined) ?? []) {
      if (entry.port !== undefined) ports.add(entry.port);
      else if (entry.start_port !== undefined && entry.end_port !== undefined) {
        for (let p = entry.start_port; p <= entry.end_port; p++) ports.add(p);
      }
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** HTTP arrives on the proxy's main listener on port 80, HTTPS on its TLS listener on 443. */
export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;

/**
 * Whether the public port is served on one of the proxy's shared listeners, found
 * by `Host` header: port 80 with the `http` handler (and no `tls`), port 443 with
 * `tls` and `http`. Every other public port gets a host port of its own per app.
 */
export function onSharedListener(binding: ServiceBinding, port: number): boolean {
  const http = binding.handlers.includes('http');
  const tls = binding.handlers.includes('tls');
  return (port === HTTP_PORT && http && !tls) || (port === HTTPS_PORT && http && tls);
}

/** Whether the binding speaks HTTP (the proxy parses requests) rather than raw TCP. */
export function speaksHttp(binding: ServiceBinding): boolean {
  return binding.handlers.includes('http');
}

function covers(entry: PortEntry, port: number): boolean {
  if (entry.port !== undefined) return entry.port === port;
  return entry.start_port !== undefined && entry.end_port !== undefined && entry.start_port <= port && port <= entry.end_port;
}

function binding(service: MachineService, entry: PortEntry, port: number): ServiceBinding {
  const concurrency = service.concurrency ?? {};
  return {
    // A port range goes to the same port inside the machine.
    internalPort: entry.port === undefined ? port : service.internal_port,
    handlers: entry.handlers ?? [],
    forceHttps: entry.force_https === true,
    concurrency: {
      type: concurrency.type === 'requests' ? 'requests' : 'connections',
      softLimit: concurrency.soft_limit ?? DEFAULT_SOFT_LIMIT,
      hardLimit: concurrency.hard_limit ?? Infinity,
    },
    autostart: service.autostart === true,
    autostop: service.autostop ?? false,
    minMachinesRunning: service.min_machines_running ?? 0,
  };
}
