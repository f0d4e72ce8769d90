/**
 * What the host's network looks like, read from `ip -j` and `nft -j` output:
 * only what convergence compares. Pure parsers; host-network.ts runs the commands.
 */
import { appPrefix, canonicalPrefix } from './layout.ts';
import type { FORWARDING_SYSCTLS, RouteSpec } from './plan.ts';

export interface ObservedLink {
  name: string;
  up: boolean;
  /** `addr/len`, canonical, every scope. */
  addresses: string[];
}

export interface ObservedRoute extends RouteSpec {
  /** `kernel` for the routes that come with an address. */
  protocol?: string;
}

export interface ObservedHost {
  links: ObservedLink[];
  routes: ObservedRoute[];
  /** The host's net.ipv4.ip_forward (read only when outbound NAT is on). */
  ipForward?: boolean;
  /** The NAT table's shape; absent when there is no such table. */
  nat?: string;
}

export interface ObservedNamespace {
  links: ObservedLink[];
  routes: ObservedRoute[];
  forwarding: Record<typeof FORWARDING_SYSCTLS[number], boolean>;
  /** Absent when the table is missing. */
  firewall?: ObservedFirewall;
}

/** The isolation table: its shape, the apps whose machines may reach each other, the peers' sources taken. */
export interface ObservedFirewall {
  shape: string;
  apps: string[];
  sources: string[];
}

export interface Observed {
  host: ObservedHost;
  /** Absent when the namespace does not exist. */
  ns?: ObservedNamespace;
}

type Json = Record<string, unknown>;

/** `ip -j addr show`. */
export function parseLinks(json: unknown): ObservedLink[] {
  return (json as Json[]).map((link) => ({
    name: String(link.ifname),
    up: (link.flags as string[] | undefined)?.includes('UP') ?? false,
    addresses: ((link.addr_info as Json[] | undefined) ?? []).map((a) => canonicalPrefix(`${String(a.local)}/${String(a.prefixlen)}`)),
  }));
}

/** `ip -j -4 route show` or `ip -j -6 route show`. */
export function parseRoutes(json: unknown, family: 4 | 6): ObservedRoute[] {
  return (json as Json[]).map((route) => {
    const dst = String(route.dst);
    const parsed: ObservedRoute = { family, dst: dst === 'default' ? dst : canonicalPrefix(dst) };
    if (route.type === 'unreachable') parsed.type = 'unreachable';
    if (typeof route.gateway === 'string') parsed.gateway = route.gateway;
    if (typeof route.dev === 'string') parsed.dev = route.dev;
    if (typeof route.metric === 'number') parsed.metric = route.metric;
    if (typeof route.protocol === 'string') parsed.protocol = route.protocol;
    return parsed;
  });
}

/** `sysctl -n a b` output, in the order asked. */
export function parseSysctls(text: string, names: readonly string[]): Record<string, boolean> {
  const values = text.trim().split('\n');
  return Object.fromEntries(names.map((name, i) => [name, values[i]?.trim() === '1']));
}

/**
 * `nft -j list table …`: its shape (chains and rules, without handles, set
 * elements or counters' values, for comparing with what hangar loaded), the
 * same-app elements and the peers' sources.
 */
export function parseNftTable(json: unknown): ObservedFirewall {
  const apps: string[] = [];
  const sources: string[] = [];
  const parts = ((json as { nftables?: Json[] }).nftables ?? []).filter((entry) => !('metainfo' in entry)).map((entry) => {
    const [kind, body] = Object.entries(entry)[0] as [string, Json];
    const { handle: _handle, elem, packets: _packets, bytes: _bytes, ...rest } = body;
    for (const element of (elem as Array<Json | string> | undefined) ?? []) {
      // A single address (a peer host's own) is shown bare.
      if (typeof element === 'string') {
        if (rest.name === 'peer_sources') sources.push(canonicalPrefix(`${element}/128`));
        continue;
      }
      const first = ((element.concat as Json[] | undefined)?.[0]?.prefix) as { addr: string; len: number } | undefined;
      if (first) apps.push(appPrefix(first.addr));
      const single = element.prefix as { addr: string; len: number } | undefined;
      if (single && rest.name === 'peer_sources') sources.push(canonicalPrefix(`${single.addr}/${single.len}`));
    }
    return { [kind]: rest };
  });
  return { shape: JSON.stringify(parts), apps: apps.sort(), sources: sources.sort() };
}

/** `nft -j list counters table …`: each named counter's packets. */
export function parseNftCounters(json: unknown): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of (json as { nftables?: Json[] }).nftables ?? []) {
    const counter = entry.counter as { name?: unknown; packets?: unknown } | undefined;
    if (typeof counter?.name === 'string' && typeof counter.packets === 'number') out.set(counter.name, counter.packets);
  }
  return out;
}

/** Does the host have `want` (dst, type, and gateway, device and metric where given)? */
export function hasRoute(routes: ObservedRoute[], want: RouteSpec): boolean {
  return routes.some((route) => route.family === want.family && route.dst === want.dst && route.type === want.type
    && (want.gateway === undefined || route.gateway === want.gateway)
    && (want.dev === undefined || route.dev === want.dev)
    && (want.metric === undefined || route.metric === want.metric));
}
