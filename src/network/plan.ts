/**
 * Host networking as data: the `ip` and `nft` commands that build one hangar's
 * network namespace and each machine's link, as pure functions pinned by golden
 * tests. Addresses come from layout.ts; converge.ts picks the commands that the
 * host's current state lacks.
 *
 *   host (root ns)                                 namespace <ns>
 *   veth hgr-<ns> ── fdaa:0:0:<host>::/64 ──── veth hgrv0 ─┬─ tap hgr<id> ── machine A (fdaa:0:<app>:<host>:…/128, <range>.x/32)
 *                    <range's last /24>.0/30               └─ tap hgr<id> ── machine B
 *   route <machine>/128 via fdaa:0:0:<host>::2   one per machine, added and removed with its TAP
 *   route <range> via <last /24>.2               one per namespace
 *   route unreachable fdaa::/16 (last resort)    shared by every hangar: 6PN never follows the default route
 *
 * Each TAP is its own routed point-to-point link (gateways fe80::1 and <last /24>.254
 * on every TAP), so there is no shared segment between machines; the namespace
 * forwards only what the firewall rules allow (host ↔ machines, and machines of the
 * same app over IPv6). Unless outbound NAT is turned on there is no default route out
 * of the namespace: machines reach nothing but the host and each other.
 */
import {
  appPrefix, canonicalAddress, DNS_PORT, formatIpv4Range, GUEST_GATEWAY6, type MachineAddresses, machineIpv4, type NetworkLayout, NS_VETH, PRIVATE_DNS, SIXPN,
  transit, TRANSIT_RANGE,
} from './layout.ts';

/** A machine whose link must exist, with its addresses (IPv4: the one recorded with it, else the one its number gives). */
export interface MachineLink extends MachineAddresses {
  machineId: string;
}

/** One command; `input` goes to its standard input, and a `tolerant` one may fail. */
export type Step = string[] | { argv: string[]; input?: string; tolerant?: boolean };

/** The last-resort route's metric: the highest, so any route of the operator's for fdaa::/16 wins. */
export const LAST_RESORT_METRIC = 4294967295;

const inNs = (layout: NetworkLayout, ...args: string[]) => ['ip', '-n', layout.ns, ...args];

export function createNamespace(layout: NetworkLayout): Step[] {
  return [['ip', 'netns', 'add', layout.ns], inNs(layout, 'link', 'set', 'lo', 'up')];
}

/** A fresh veth pair; a host end left without its peer is removed first. */
export function createVeth(layout: NetworkLayout): Step[] {
  return [
    { argv: ['ip', 'link', 'del', layout.hostVeth], tolerant: true },
    ['ip', 'link', 'add', layout.hostVeth, 'type', 'veth', 'peer', 'name', NS_VETH, 'netns', layout.ns],
  ];
}

export function linkUp(layout: NetworkLayout, side: 'host' | 'ns'): Step {
  return side === 'host' ? ['ip', 'link', 'set', layout.hostVeth, 'up'] : inNs(layout, 'link', 'set', NS_VETH, 'up');
}

/** The addresses each end of the veth must carry, as `addr/len`. */
export function vethAddresses(layout: NetworkLayout): { host: string[]; ns: string[] } {
  const t = transit(layout);
  return { host: [`${t.host6}/64`, `${t.host4}/30`], ns: [`${t.ns6}/64`, `${t.ns4}/30`] };
}

export function addAddress(layout: NetworkLayout, side: 'host' | 'ns', address: string): Step {
  const ipv6 = address.includes(':');
  const dev = side === 'host' ? layout.hostVeth : NS_VETH;
  const argv = ['ip', ...(ipv6 ? ['-6'] : []), 'addr', 'add', address, 'dev', dev, ...(ipv6 ? ['nodad'] : [])];
  return side === 'host' ? argv : inNs(layout, ...argv.slice(1));
}

export function deleteAddress(layout: NetworkLayout, side: 'host' | 'ns', address: string): Step {
  const dev = side === 'host' ? layout.hostVeth : NS_VETH;
  const argv = ['ip', 'addr', 'del', address, 'dev', dev];
  return side === 'host' ? argv : inNs(layout, ...argv.slice(1));
}

export const FORWARDING_SYSCTLS = ['net.ipv6.conf.all.forwarding', 'net.ipv4.ip_forward'] as const;

export function enableForwarding(layout: NetworkLayout, sysctl: typeof FORWARDING_SYSCTLS[number]): Step {
  return ['ip', 'netns', 'exec', layout.ns, 'sysctl', '-q', '-w', `${sysctl}=1`];
}

/** A route the host must have, as `ip` shows it once added. */
export interface RouteSpec {
  family: 4 | 6;
  dst: string;
  gateway?: string;
  dev?: string;
  type?: 'unreachable';
  metric?: number;
}

/** The routes from the host into the namespace that do not depend on machines. */
export function namespaceRoutes(layout: NetworkLayout): RouteSpec[] {
  return [
    { family: 6, dst: SIXPN, type: 'unreachable', metric: LAST_RESORT_METRIC },
    { family: 4, dst: formatIpv4Range(layout.ipv4Range), gateway: transit(layout).ns4, dev: layout.hostVeth },
  ];
}

/** The host's route to one machine's private IPv6 address. */
export function machineRoute(layout: NetworkLayout, privateIp: string): RouteSpec {
  return { family: 6, dst: `${canonicalAddress(privateIp)}/128`, gateway: transit(layout).ns6, dev: layout.hostVeth };
}

/** The host's route to a peer's /64 of machines: through the namespace, which sends it over the mesh link. */
export function peerMachinesRoute(layout: NetworkLayout, prefix: string): RouteSpec {
  return { family: 6, dst: prefix, gateway: transit(layout).ns6, dev: layout.hostVeth };
}

function routeArgs(route: RouteSpec): string[] {
  return [
    ...(route.type ? [route.type] : []), route.dst,
    ...(route.gateway ? ['via', route.gateway] : []), ...(route.dev ? ['dev', route.dev] : []),
    ...(route.metric !== undefined ? ['metric', String(route.metric)] : []),
  ];
}

/** In the root namespace, or (`ns`) in the machines' one. */
export function replaceRoute(route: RouteSpec, ns?: string): Step {
  return [...(ns ? ['ip', '-n', ns] : ['ip']), ...(route.family === 6 ? ['-6'] : []), 'route', 'replace', ...routeArgs(route)];
}

export function deleteRoute(route: RouteSpec, ns?: string): Step {
  return { argv: [...(ns ? ['ip', '-n', ns] : ['ip']), ...(route.family === 6 ? ['-6'] : []), 'route', 'del', ...routeArgs(route)], tolerant: true };
}

/**
 * Linux interface names hold 15 characters: `hgr` + the first 12 of the machine id.
 * Two ids of 14 characters can share those 12 (see tapNameHolder).
 */
export function tapName(machineId: string): string {
  return `hgr${machineId.slice(0, 12)}`;
}

/**
 * The machine among `others` whose TAP has the same name as `machineId`'s would,
 * if any. Ids are random, so this is rare, but two machines must never share a
 * TAP: one would take the other's traffic, or delete its link.
 */
export function tapNameHolder(machineId: string, others: Iterable<string>): string | undefined {
  const name = tapName(machineId);
  for (const other of others) if (other !== machineId && tapName(other) === name) return other;
  return undefined;
}

export const TAP_NAME = /^hgr[0-9a-f]{12}$/;

/** A locally administered MAC derived from the machine id. */
export function guestMac(machineId: string): string {
  const hex = machineId.padEnd(10, '0').slice(0, 10);
  return ['02', ...hex.match(/../g)!].join(':');
}

/**
 * The MAC of the host's end of a machine's TAP, derived from the machine id as the
 * guest's is: the same on every host, so that a guest resumed on another host (a
 * move) still reaches its gateway at the address it remembers.
 */
export function gatewayMac(machineId: string): string {
  return ['06', ...guestMac(machineId).split(':').slice(1)].join(':');
}

/** The addresses every TAP carries: the guests' gateways. */
export function tapAddresses(layout: NetworkLayout): string[] {
  return [`${GUEST_GATEWAY6}/64`, `${transit(layout).gateway4}/32`];
}

/** The namespace's routes to one machine, over its TAP. */
export function tapRoutes(layout: NetworkLayout, machine: MachineAddresses): RouteSpec[] {
  return [
    { family: 6, dst: `${canonicalAddress(machine.privateIp)}/128` },
    { family: 4, dst: `${machineIpv4(machine, layout.ipv4Range)}/32` },
  ];
}

/** A machine's link: its TAP with the gateways, the namespace's routes to it, the host's route to it, and its app's firewall element. */
export function machineLinkSetup(layout: NetworkLayout, link: MachineLink): Step[] {
  const tap = tapName(link.machineId);
  const [gateway6, gateway4] = tapAddresses(layout) as [string, string];
  return [
    inNs(layout, 'tuntap', 'add', 'dev', tap, 'mode', 'tap'),
    inNs(layout, '-6', 'addr', 'add', gateway6, 'dev', tap, 'nodad'),
    inNs(layout, 'addr', 'add', gateway4, 'dev', tap),
    inNs(layout, 'link', 'set', tap, 'address', gatewayMac(link.machineId), 'up'),
    ...tapRoutes(layout, link).map((route) => replaceRoute({ ...route, dev: tap }, layout.ns)),
    replaceRoute(machineRoute(layout, link.privateIp)),
    allowSameApp(layout, link.privateIp),
  ];
}

/** Undoes a machine's link (every step tolerant: parts may be gone); `lastOfApp` also drops its app's firewall element. */
export function machineLinkTeardown(layout: NetworkLayout, machineId: string, privateIp: string, lastOfApp: boolean): Step[] {
  return [
    { argv: inNs(layout, 'link', 'del', tapName(machineId)), tolerant: true },
    deleteRoute(machineRoute(layout, privateIp)),
    ...(lastOfApp ? [{ argv: sameAppElement(layout, 'delete', appPrefix(privateIp)), tolerant: true }] : []),
  ];
}

/** The namespace's link to the other hosts, and the /64s of every peer's machines (the only sources it accepts). */
export interface MeshRules {
  link: string;
  sources: string[];
}

/** Why the firewall dropped a packet that came from or went to another host (`hangar_6pn_dropped_total{reason}`). */
export const MESH_DROPS = { source: 'dropped_source', app: 'dropped_app' } as const;

/**
 * The namespace's firewall (nftables): forward between the host and machines, and
 * between machines only when both addresses lie in the same app's /48; and the
 * private DNS's address (`fdaa::3`, UDP and TCP port 53) sent on to `dns`, the host's transit
 * address, where the host's resolver listens (it sees the asking machine's own
 * address). Loading it replaces the table whatever it held, with `apps` (app
 * prefixes) as the elements. With `mesh`, what comes from other hosts is taken
 * only from a peer's /64s and only to a machine of the same app (never to this
 * host) or from a peer host's own address (its edge proxy) to a machine here; what
 * goes to them only from a machine of the same app, or as the answer to such a
 * connection; each drop counted;
 * and TCP's segments are kept to the link's smaller MTU. Whatever comes in by a link
 * its source is not routed by is dropped: no machine sends as another.
 */
export function isolationRuleset(apps: string[], dns: string, mesh?: MeshRules): string {
  const link = mesh && `"${mesh.link}"`;
  return [
    'table inet hangar {}',
    'delete table inet hangar',
    'table inet hangar {',
    '  set same_app {',
    '    type ipv6_addr . ipv6_addr',
    '    flags interval',
    ...(apps.length > 0 ? [`    elements = { ${apps.map((prefix) => `${prefix} . ${prefix}`).join(', ')} }`] : []),
    '  }',
    ...(mesh ? [
      '  set peer_sources {',
      '    type ipv6_addr',
      '    flags interval',
      ...(mesh.sources.length > 0 ? [`    elements = { ${mesh.sources.join(', ')} }`] : []),
      '  }',
      `  counter ${MESH_DROPS.source} {}`,
      `  counter ${MESH_DROPS.app} {}`,
    ] : []),
    '  chain forward {',
    '    type filter hook forward priority 0; policy drop;',
    ...(mesh ? [
      `    oifname ${link} tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu`,
      `    iifname ${link} ip6 saddr != @peer_sources counter name ${MESH_DROPS.source} drop`,
      `    iifname ${link} ct state established,related accept`,
      `    iifname ${link} ip6 saddr . ip6 daddr @same_app accept`,
      // A peer host's own address (its edge proxy) may open connections to this host's machines, never to the host.
      `    iifname ${link} ip6 saddr ${TRANSIT_RANGE} ip6 daddr != ${TRANSIT_RANGE} oifname != ${link} accept`,
      `    iifname ${link} counter name ${MESH_DROPS.app} drop`,
    ] : []),
    // A source that would not be routed back the way it came is forged (a guest sending as another machine).
    '    fib saddr . iif oif missing drop',
    ...(mesh ? [`    oifname ${link} ct state established,related accept`] : []),
    `    iifname "${NS_VETH}" accept`,
    `    oifname "${NS_VETH}" accept`,
    '    ip6 saddr . ip6 daddr @same_app accept',
    ...(mesh ? [`    oifname ${link} counter name ${MESH_DROPS.app} drop`] : []),
    '  }',
    '  chain private_dns {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ip6 daddr ${PRIVATE_DNS} udp dport ${DNS_PORT} dnat ip6 to [${dns}]:${DNS_PORT}`,
    `    ip6 daddr ${PRIVATE_DNS} tcp dport ${DNS_PORT} dnat ip6 to [${dns}]:${DNS_PORT}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function loadIsolation(layout: NetworkLayout, apps: string[], mesh?: MeshRules): Step {
  return { argv: ['ip', 'netns', 'exec', layout.ns, 'nft', '-f', '-'], input: isolationRuleset(apps, transit(layout).host6, mesh) };
}

/** Adds or deletes one of the peers' /64s from the sources taken from other hosts. */
export function peerSourceElement(layout: NetworkLayout, action: 'add' | 'delete', prefix: string): string[] {
  return ['ip', 'netns', 'exec', layout.ns, 'nft', action, 'element', 'inet', 'hangar', 'peer_sources', `{ ${prefix} }`];
}

/** Adds or deletes the element that lets the machines of the app with this /48 reach each other. */
export function sameAppElement(layout: NetworkLayout, action: 'add' | 'delete', prefix: string): string[] {
  return ['ip', 'netns', 'exec', layout.ns, 'nft', action, 'element', 'inet', 'hangar', 'same_app', `{ ${prefix} . ${prefix} }`];
}

export function allowSameApp(layout: NetworkLayout, privateIp: string): Step {
  return sameAppElement(layout, 'add', appPrefix(privateIp));
}

/**
 * Outbound NAT (off unless the operator turns it on): a default route out of the
 * namespace through the host, and IPv4 masquerading of the namespace's range on the
 * host's way out. IPv6 is not translated: turning on IPv6 forwarding on the host
 * would stop it accepting router advertisements.
 */
export function outboundRoute(layout: NetworkLayout): RouteSpec {
  return { family: 4, dst: 'default', gateway: transit(layout).host4, dev: NS_VETH };
}

export const HOST_FORWARDING: Step = ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'];

export function natTableName(layout: Pick<NetworkLayout, 'ns'>): string {
  return `hangar_nat_${layout.ns}`.replace(/[^A-Za-z0-9_]/g, '_');
}

/** The host's masquerade table, replacing whatever it held: the range's addresses leaving by any link but the namespace's. */
export function natRuleset(layout: NetworkLayout): string {
  const table = `table ip ${natTableName(layout)}`;
  return [
    `${table} {}`,
    `delete ${table}`,
    `${table} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${formatIpv4Range(layout.ipv4Range)} oifname != "${layout.hostVeth}" masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function loadNat(layout: NetworkLayout): Step {
  return { argv: ['nft', '-f', '-'], input: natRuleset(layout) };
}

export function deleteNat(layout: Pick<NetworkLayout, 'ns'>): Step {
  return { argv: ['nft', 'delete', 'table', 'ip', natTableName(layout)], tolerant: true };
}

/**
 * Removes a namespace and everything of it on the host: deleting the veth takes
 * its addresses and every route through it. Only the shared last-resort route stays.
 */
export function namespaceTeardown(layout: Pick<NetworkLayout, 'ns' | 'hostVeth'>): Step[] {
  return [
    { argv: ['ip', 'link', 'del', layout.hostVeth], tolerant: true },
    { argv: ['ip', 'netns', 'del', layout.ns], tolerant: true },
    deleteNat(layout),
  ];
}
