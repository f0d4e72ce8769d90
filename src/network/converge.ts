/**
 * Convergence as data: from what hangar wants (a layout, outbound NAT on or off,
 * the machines whose links must exist) and what the host shows (observed.ts), the
 * repairs that bring the host to the wanted state, each named for the log. From
 * nothing they are the whole setup; on a healthy host they are none.
 */
import { appPrefix, formatHostNumber, formatIpv4Range, ipv6Groups, type NetworkLayout, NS_VETH, parseCidr4, rangesOverlap } from './layout.ts';
import { hasRoute, type Observed, type ObservedHost, type ObservedLink, type ObservedNamespace, type ObservedRoute } from './observed.ts';
import {
  addAddress, createNamespace, createVeth, deleteAddress, deleteNat, deleteRoute, enableForwarding, FORWARDING_SYSCTLS, HOST_FORWARDING,
  linkUp, loadIsolation, loadNat, type MachineLink, machineRoute, namespaceRoutes, peerMachinesRoute, outboundRoute, peerSourceElement, replaceRoute, type RouteSpec, sameAppElement, type Step,
  TAP_NAME, tapAddresses, tapName, tapRoutes, vethAddresses,
} from './plan.ts';

export type { MachineLink };

export interface Desired {
  layout: NetworkLayout;
  outboundNat: boolean;
  /** Machines whose links must exist; until they are known, machine links are left alone. */
  links?: MachineLink[];
  /**
   * The link to other hosts (made by the underlay) and the peers' /64s routed through
   * it (by a gateway on it, for some underlays); until the peers are known, what is
   * there is left as it is (a restart keeps traffic between hosts flowing).
   */
  mesh?: { link: string; routes?: MeshRoute[] };
  /** The firewall's and NAT table's shapes as read right after hangar loaded them; until then they are loaded. */
  firewallShape?: string;
  natShape?: string;
}

export interface MeshRoute {
  prefix: string;
  via?: string;
  /** The peer host's own address (its edge proxy's), not its machines': not routed from this host's own namespace. */
  host?: true;
}

export interface Repair {
  what: string;
  steps: Step[];
}

const EMPTY_NS: ObservedNamespace = { links: [], routes: [], forwarding: { 'net.ipv6.conf.all.forwarding': false, 'net.ipv4.ip_forward': false } };

export function repairs(desired: Desired, observed: Observed): Repair[] {
  const { layout } = desired;
  const out: Repair[] = [];
  const add = (what: string, ...steps: Step[]) => out.push({ what, steps });
  if (!observed.ns) add(`namespace ${layout.ns} created`, ...createNamespace(layout));
  const ns = observed.ns ?? EMPTY_NS;
  const hostVeth = linkOf(observed.host.links, layout.hostVeth);
  const nsVeth = hostVeth && linkOf(ns.links, NS_VETH);
  if (!hostVeth || !nsVeth) add(`veth ${layout.hostVeth} ↔ ${NS_VETH} created`, ...createVeth(layout));
  if (!hostVeth?.up || !nsVeth?.up) add('veth up', linkUp(layout, 'host'), linkUp(layout, 'ns'));
  const wanted = vethAddresses(layout);
  for (const [side, link, addresses] of [['host', hostVeth, wanted.host], ['ns', nsVeth, wanted.ns]] as const) {
    const dev = side === 'host' ? layout.hostVeth : NS_VETH;
    for (const address of addresses) if (!link?.addresses.includes(address)) add(`address ${address} added to ${dev}`, addAddress(layout, side, address));
    for (const address of link?.addresses ?? []) {
      if (!addresses.includes(address) && !address.startsWith('fe80:')) add(`address ${address} removed from ${dev}`, deleteAddress(layout, side, address));
    }
  }
  for (const sysctl of FORWARDING_SYSCTLS) if (!ns.forwarding[sysctl]) add(`${sysctl} turned on in ${layout.ns}`, enableForwarding(layout, sysctl));

  const links = desired.links;
  const apps = links ? [...new Set(links.map((link) => appPrefix(link.privateIp)))].sort() : (ns.firewall?.apps ?? []);
  const mesh = desired.mesh;
  const sources = mesh?.routes ? mesh.routes.map((route) => route.prefix) : (ns.firewall?.sources ?? []);
  if (!ns.firewall || !desired.firewallShape || ns.firewall.shape !== desired.firewallShape) {
    add('firewall loaded', loadIsolation(layout, apps, mesh && { link: mesh.link, sources }));
  } else {
    if (links) {
      for (const app of apps) if (!ns.firewall.apps.includes(app)) add(`same-app element ${app} added`, sameAppElement(layout, 'add', app));
      for (const app of ns.firewall.apps) if (!apps.includes(app)) add(`same-app element ${app} removed`, sameAppElement(layout, 'delete', app));
    }
    if (mesh?.routes) {
      for (const prefix of sources) if (!ns.firewall.sources.includes(prefix)) add(`peer source ${prefix} added`, peerSourceElement(layout, 'add', prefix));
      for (const prefix of ns.firewall.sources) if (!sources.includes(prefix)) add(`peer source ${prefix} removed`, peerSourceElement(layout, 'delete', prefix));
    }
  }

  // The edge proxy reaches other hosts' machines through the namespace too.
  const peerRoutes = (mesh?.routes ?? []).filter((route) => !route.host).map((route) => peerMachinesRoute(layout, route.prefix));
  const hostRoutes = [...namespaceRoutes(layout), ...(links ?? []).map((link) => machineRoute(layout, link.privateIp)), ...peerRoutes];
  for (const route of hostRoutes) if (!hasRoute(observed.host.routes, route)) add(`route ${describe(route)} set`, replaceRoute(route));

  const nsRoutes: RouteSpec[] = [];
  for (const link of links ?? []) {
    const tap = tapName(link.machineId);
    const observedTap = linkOf(ns.links, tap);
    if (!observedTap) add(`TAP ${tap} created`, ['ip', '-n', layout.ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    for (const address of tapAddresses(layout)) {
      if (!observedTap?.addresses.includes(address)) add(`address ${address} added to ${tap}`, tapAddress(layout, tap, address));
    }
    if (!observedTap?.up) add(`TAP ${tap} up`, ['ip', '-n', layout.ns, 'link', 'set', tap, 'up']);
    for (const route of tapRoutes(layout, link)) nsRoutes.push({ ...route, dev: tap });
  }
  // Routes to peers go through the mesh's link, once the underlay has made it.
  if (mesh?.routes && linkOf(ns.links, mesh.link)) {
    for (const route of mesh.routes) nsRoutes.push({ family: 6, dst: route.prefix, dev: mesh.link, ...(route.via ? { gateway: route.via } : {}) });
  }
  for (const route of nsRoutes) if (!hasRoute(ns.routes, route)) add(`route ${describe(route)} set in ${layout.ns}`, replaceRoute(route, layout.ns));

  if (links) {
    const taps = new Set(links.map((link) => tapName(link.machineId)));
    const stale = ns.links.filter((link) => TAP_NAME.test(link.name) && !taps.has(link.name)).map((link) => link.name);
    for (const tap of stale) add(`stale TAP ${tap} removed`, ['ip', '-n', layout.ns, 'link', 'del', tap]);
    const peersUnknown = (route: ObservedRoute) => mesh !== undefined && !mesh.routes && route.dev === mesh.link;
    const peerRouteUnknown = (route: ObservedRoute) => mesh !== undefined && !mesh.routes && route.family === 6 && route.dst.endsWith('/64');
    for (const route of extraRoutes(observed.host.routes.filter((r) => r.dev === layout.hostVeth && !peerRouteUnknown(r)), hostRoutes)) {
      add(`stale route ${describe(route)} removed`, deleteRoute(route));
    }
    const nsExtra = ns.routes.filter((r) => r.dst !== 'default' && !stale.includes(r.dev ?? '') && !peersUnknown(r));
    for (const route of extraRoutes(nsExtra, nsRoutes)) add(`stale route ${describe(route)} removed from ${layout.ns}`, deleteRoute(route, layout.ns));
  }

  const outbound = outboundRoute(layout);
  if (desired.outboundNat) {
    if (observed.host.ipForward === false) add('net.ipv4.ip_forward turned on on the host (outbound NAT)', HOST_FORWARDING);
    if (!hasRoute(ns.routes, outbound)) add(`route ${describe(outbound)} set in ${layout.ns} (outbound NAT)`, replaceRoute(outbound, layout.ns));
    if (!observed.host.nat || !desired.natShape || observed.host.nat !== desired.natShape) add('outbound NAT table loaded', loadNat(layout));
  } else {
    for (const route of ns.routes.filter((r) => r.dst === 'default')) add(`route ${describe(route)} removed from ${layout.ns} (outbound NAT is off)`, deleteRoute(route, layout.ns));
    if (observed.host.nat) add('outbound NAT table removed (outbound NAT is off)', deleteNat(layout));
  }
  return out;
}

function linkOf(links: ObservedLink[], name: string): ObservedLink | undefined {
  return links.find((link) => link.name === name);
}

function tapAddress(layout: NetworkLayout, tap: string, address: string): Step {
  return address.includes(':')
    ? ['ip', '-n', layout.ns, '-6', 'addr', 'add', address, 'dev', tap, 'nodad']
    : ['ip', '-n', layout.ns, 'addr', 'add', address, 'dev', tap];
}

/** Routes someone added (not the kernel's, which come with addresses) that nothing wants. */
function extraRoutes(routes: ObservedRoute[], wanted: RouteSpec[]): ObservedRoute[] {
  return routes.filter((route) => route.protocol !== 'kernel' && !wanted.some((want) => hasRoute([route], want)));
}

function describe(route: RouteSpec): string {
  return [route.type, route.dst, route.gateway && `via ${route.gateway}`, route.dev && `dev ${route.dev}`].filter(Boolean).join(' ');
}

/**
 * Why another hangar's network (or anything else on the host) stands in the way of
 * this layout: another link holding this host number's transit prefix, or a route
 * into the IPv4 range that does not go through this namespace's veth.
 */
export function conflicts(layout: NetworkLayout, host: ObservedHost): string[] {
  const found: string[] = [];
  const isTransit = (address: string) => {
    const groups = ipv6Groups(address.split('/')[0] ?? '');
    return address.includes(':') && groups[0] === 0xfdaa && groups[1] === 0 && groups[2] === 0 && groups[3] === layout.hostNumber;
  };
  for (const link of host.links) {
    if (link.name === layout.hostVeth) continue;
    const taken = link.addresses.find(isTransit);
    if (taken) found.push(`host number ${formatHostNumber(layout.hostNumber)} is taken: ${link.name} holds ${taken}`);
  }
  for (const route of host.routes) {
    if (route.family !== 4 || route.dst === 'default' || route.dev === layout.hostVeth) continue;
    const block = parseCidr4(route.dst);
    if (block && rangesOverlap(block, layout.ipv4Range)) {
      found.push(`IPv4 range ${formatIpv4Range(layout.ipv4Range)} overlaps the host's route ${describe(route)}`);
    }
  }
  return found;
}
