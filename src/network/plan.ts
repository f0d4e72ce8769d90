/**
 * Host networking as data: the `ip` commands that build hangar's network namespace
 * and each machine's link, as pure functions pinned by golden tests.
 *
 *   host (root ns)                  namespace `hangar`
 *   veth hgr-<ns> ── fdaa:ffff::/64 ──── veth hgrv0 ─┬─ tap hgr<id> ── machine A (fdaa:0:1:…/128, 172.19.0.1/32)
 *                    172.19.255.0/30                 └─ tap hgr<id> ── machine B
 *   route fdaa::/16 via fdaa:ffff::2, 172.19.0.0/16 via 172.19.255.2
 *
 * Each TAP is its own routed point-to-point link (gateways fe80::1 and 172.19.255.254
 * on every TAP), so there is no shared segment between machines; the namespace
 * forwards only what the firewall rules allow (host ↔ machines, and machines of the
 * same app over IPv6). Unless outbound NAT is turned on there is no default route out
 * of the namespace: machines reach nothing but the host and each other.
 */

export interface NamespacePlan {
  /** Network namespace name. */
  ns: string;
  /** Host-side veth name (≤ 15 characters). */
  hostVeth: string;
  /** Prefixes routed from the host into the namespace. */
  hostRoutes: string[];
}

export const TRANSIT_HOST = 'fdaa:ffff::1';
export const TRANSIT_NS = 'fdaa:ffff::2';
export const NS_VETH = 'hgrv0';
export const GUEST_GATEWAY6 = 'fe80::1';
/** IPv4 exists only inside the namespace (and on the host's route into it), as Fly's 172.19.x addresses do. */
export const MACHINE_IPV4_RANGE = '172.19.0.0/16';
export const TRANSIT_HOST4 = '172.19.255.1';
export const TRANSIT_NS4 = '172.19.255.2';
export const GUEST_GATEWAY4 = '172.19.255.254';
/** Machines take 172.19.0.0–172.19.254.255; the last /24 holds the transit link and gateway. */
const IPV4_POOL = 255 * 256;

type Command = string[];

export function namespaceSetup(plan: NamespacePlan): Command[] {
  const inNs = (...args: string[]) => ['ip', '-n', plan.ns, ...args];
  return [
    ['ip', 'netns', 'add', plan.ns],
    inNs('link', 'set', 'lo', 'up'),
    ['ip', 'link', 'add', plan.hostVeth, 'type', 'veth', 'peer', 'name', NS_VETH, 'netns', plan.ns],
    ['ip', '-6', 'addr', 'add', `${TRANSIT_HOST}/64`, 'dev', plan.hostVeth, 'nodad'],
    ['ip', 'addr', 'add', `${TRANSIT_HOST4}/30`, 'dev', plan.hostVeth],
    ['ip', 'link', 'set', plan.hostVeth, 'up'],
    inNs('-6', 'addr', 'add', `${TRANSIT_NS}/64`, 'dev', NS_VETH, 'nodad'),
    inNs('addr', 'add', `${TRANSIT_NS4}/30`, 'dev', NS_VETH),
    inNs('link', 'set', NS_VETH, 'up'),
    ['ip', 'netns', 'exec', plan.ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1'],
    ['ip', 'netns', 'exec', plan.ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
    ...plan.hostRoutes.map((prefix) => ['ip', '-6', 'route', 'replace', prefix, 'via', TRANSIT_NS, 'dev', plan.hostVeth]),
    ['ip', 'route', 'replace', MACHINE_IPV4_RANGE, 'via', TRANSIT_NS4, 'dev', plan.hostVeth],
  ];
}

export function namespaceTeardown(plan: NamespacePlan): Command[] {
  return [
    ...plan.hostRoutes.map((prefix) => ['ip', '-6', 'route', 'del', prefix, 'via', TRANSIT_NS, 'dev', plan.hostVeth]),
    ['ip', 'route', 'del', MACHINE_IPV4_RANGE, 'via', TRANSIT_NS4, 'dev', plan.hostVeth],
    ['ip', 'link', 'del', plan.hostVeth],
    ['ip', 'netns', 'del', plan.ns],
  ];
}

/** Linux interface names hold 15 characters: `hgr` + the first 12 of the machine id. */
export function tapName(machineId: string): string {
  return `hgr${machineId.slice(0, 12)}`;
}

/** A locally administered MAC derived from the machine id. */
export function guestMac(machineId: string): string {
  const hex = machineId.padEnd(10, '0').slice(0, 10);
  return ['02', ...hex.match(/../g)!].join(':');
}

/**
 * A machine's IPv4 address, from the machine number that its private IPv6 address
 * carries (groups 5 and 6). Unique among the last 65,280 machines created.
 */
export function machineIpv4(privateIp: string): string {
  const groups = privateIp.split(':');
  const number = (parseInt(groups[4] ?? '0', 16) * 0x10000 + parseInt(groups[5] ?? '0', 16)) % IPV4_POOL;
  return `172.19.${number >>> 8}.${number & 0xff}`;
}

export function machineLinkSetup(ns: string, tap: string, privateIp: string): Command[] {
  const inNs = (...args: string[]) => ['ip', '-n', ns, ...args];
  return [
    inNs('tuntap', 'add', 'dev', tap, 'mode', 'tap'),
    inNs('-6', 'addr', 'add', `${GUEST_GATEWAY6}/64`, 'dev', tap, 'nodad'),
    inNs('addr', 'add', `${GUEST_GATEWAY4}/32`, 'dev', tap),
    inNs('link', 'set', tap, 'up'),
    inNs('-6', 'route', 'replace', `${privateIp}/128`, 'dev', tap),
    inNs('route', 'replace', `${machineIpv4(privateIp)}/32`, 'dev', tap),
  ];
}

export function machineLinkTeardown(ns: string, tap: string): Command[] {
  return [['ip', '-n', ns, 'link', 'del', tap]];
}

/**
 * The namespace's firewall (nftables): forward between the host and machines, and
 * between machines only when both addresses lie in the same app's /48.
 */
export function isolationRuleset(): string {
  return [
    'table inet hangar {',
    '  set same_app {',
    '    type ipv6_addr . ipv6_addr',
    '    flags interval',
    '  }',
    '  chain forward {',
    '    type filter hook forward priority 0; policy drop;',
    `    iifname "${NS_VETH}" accept`,
    `    oifname "${NS_VETH}" accept`,
    '    ip6 saddr . ip6 daddr @same_app accept',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** An app's /48 (fdaa:0:<app>::/48) from one of its machines' addresses. */
export function appPrefix(machineIp: string): string {
  const groups = machineIp.split(':');
  return `${groups.slice(0, 3).join(':')}::/48`;
}

/** Lets machines of the app that `machineIp` belongs to reach each other. */
export function allowSameApp(ns: string, machineIp: string): Command {
  const prefix = appPrefix(machineIp);
  return ['ip', 'netns', 'exec', ns, 'nft', 'add', 'element', 'inet', 'hangar', 'same_app', `{ ${prefix} . ${prefix} }`];
}

/**
 * Outbound NAT (off unless the operator turns it on): a default route out of the
 * namespace through the host, and IPv4 masquerading of machine addresses on the
 * host's way out. IPv6 is not translated: turning on IPv6 forwarding on the host
 * would stop it accepting router advertisements.
 */
export function outboundNatSetup(plan: NamespacePlan): Command[] {
  return [
    ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
    ['ip', '-n', plan.ns, 'route', 'replace', 'default', 'via', TRANSIT_HOST4, 'dev', NS_VETH],
  ];
}

/** Undoes `outboundNatSetup` and the masquerade table; run tolerantly (parts may be absent). */
export function outboundNatTeardown(plan: NamespacePlan): Command[] {
  return [
    ['ip', '-n', plan.ns, 'route', 'del', 'default', 'via', TRANSIT_HOST4, 'dev', NS_VETH],
    ['nft', 'delete', 'table', 'ip', natTableName(plan)],
  ];
}

export function natTableName(plan: NamespacePlan): string {
  return `hangar_nat_${plan.ns}`.replace(/[^A-Za-z0-9_]/g, '_');
}

/** The host's masquerade table: machine addresses leaving by any link but the namespace's. */
export function natRuleset(plan: NamespacePlan): string {
  return [
    `table ip ${natTableName(plan)} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${MACHINE_IPV4_RANGE} oifname != "${plan.hostVeth}" masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}
