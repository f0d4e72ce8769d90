/**
 * An app's public IP addresses. On one host every app is reached through the edge
 * proxy, by `Host` or by a host port of its own, so an app's addresses are the
 * proxy's, shared with every other app. Assigning answers the proxy's address of
 * the family asked for (nothing is allocated or recorded); releasing one is
 * refused, since the address is not the app's to give up. hangar has no Flycast
 * (private_v6) or egress addresses.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalid, notFound } from '../domain/errors.ts';
import { getApp } from './app-lookup.ts';
import type { ControlDeps } from './ports.ts';

export interface IpAssignment {
  ip: string;
  region: string;
  shared: boolean;
  createdAt: number;
}

/** fly-go's flaps.AssignIPRequest. */
export interface AssignIpInput {
  type?: unknown;
  region?: unknown;
  org_slug?: unknown;
  network?: unknown;
  service_name?: unknown;
}

// Maps: the type is the request's, and a plain object would answer "constructor" with what it inherits.
const FAMILY = new Map<string, 'IPv4' | 'IPv6'>([['v4', 'IPv4'], ['shared_v4', 'IPv4'], ['v6', 'IPv6']]);
const NO_EGRESS = 'hangar has no egress addresses; machines reach out (with hangar serve --outbound-nat) as the host';
const NOT_SERVED = new Map<string, string>([
  ['private_v6', 'hangar has no Flycast (private_v6) addresses; machines of an app reach each other at their private_ip'],
  ['egress_v4', NO_EGRESS],
  ['egress_v6', NO_EGRESS],
  ['egress_pair', NO_EGRESS],
]);

export async function listIpAssignments(deps: ControlDeps, appName: string): Promise<IpAssignment[]> {
  const app = await getApp(deps, appName);
  // The app has been reachable at the proxy's addresses since it was created.
  return (deps.ports?.addresses() ?? []).map((ip) => ({ ip, region: deps.settings.defaultRegion, shared: true, createdAt: app.createdAt }));
}

export async function assignIp(deps: ControlDeps, appName: string, input: AssignIpInput): Promise<IpAssignment> {
  const assigned = await listIpAssignments(deps, appName);
  const type = typeof input.type === 'string' ? input.type : '';
  const notServed = NOT_SERVED.get(type);
  if (notServed) throw invalid(notServed);
  const family = FAMILY.get(type);
  if (!family) throw invalid(`type must be one of v4, shared_v4, v6, private_v6, egress_v4, egress_v6, egress_pair; got "${type}"`);
  const found = assigned.find((assignment) => (family === 'IPv4' ? isIPv4 : isIPv6)(assignment.ip));
  if (!found) {
    throw invalid(`hangar's edge proxy listens on no ${family} address, so it has none to give app ${appName}`,
      `give hangar serve --proxy-listen an ${family} address`);
  }
  return found;
}

export async function releaseIp(deps: ControlDeps, appName: string, ip: string): Promise<never> {
  const assigned = await listIpAssignments(deps, appName);
  if (!assigned.some((assignment) => assignment.ip === ip)) throw notFound(`ip assignment not found: ${ip}`);
  throw invalid(`${ip} is the edge proxy's address, shared by every app on this host; it cannot be released from app ${appName}`,
    'to stop serving the app, remove the public ports from its machines\' services');
}
