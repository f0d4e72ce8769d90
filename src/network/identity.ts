/**
 * Which host number and IPv4 range a hangar network takes. The first start picks
 * them (from flags, else defaults derived from the namespace's name, stepping over
 * what another hangar on this machine holds) and the data directory keeps them, so
 * they never change under existing machines. Pure: the caller reads and writes the
 * stored choice and observes the host.
 */
import { conflicts } from './converge.ts';
import {
  DEFAULT_IPV4_RANGE, DEFAULT_NETNS, defaultHostNumber, formatHostNumber, formatIpv4Range, type Ipv4Range, layoutOf, type NetworkLayout,
  parseIpv4Range, poolCandidates,
} from './layout.ts';
import type { ObservedHost } from './observed.ts';

export interface NetworkIdentity {
  hostNumber: number;
  ipv4Range: Ipv4Range;
}

export interface IdentityRequest {
  ns: string;
  /** From flags. */
  hostNumber?: number;
  ipv4Range?: Ipv4Range;
  /** What the data directory holds from an earlier start. */
  stored?: NetworkIdentity;
}

export function chooseLayout(request: IdentityRequest, host: ObservedHost): NetworkLayout {
  const { ns, stored } = request;
  const taken = (layout: NetworkLayout, what: 'host' | 'range') => conflicts(layout, host)
    .filter((problem) => problem.startsWith(what === 'host' ? 'host number' : 'IPv4 range'));
  if (stored) {
    if (request.hostNumber !== undefined && request.hostNumber !== stored.hostNumber) {
      throw new Error(`this data directory's machines use host number ${formatHostNumber(stored.hostNumber)}, not ${formatHostNumber(request.hostNumber)} (kept in network.json)`);
    }
    if (request.ipv4Range && formatIpv4Range(request.ipv4Range) !== formatIpv4Range(stored.ipv4Range)) {
      throw new Error(`this data directory's machines use the IPv4 range ${formatIpv4Range(stored.ipv4Range)}, not ${formatIpv4Range(request.ipv4Range)} (kept in network.json)`);
    }
    const layout = layoutOf(ns, stored.hostNumber, stored.ipv4Range);
    const problems = conflicts(layout, host);
    if (problems.length > 0) throw new Error(`${problems.join('; ')}: another hangar network, or something else on this host, holds what this data directory's machines use`);
    return layout;
  }
  let hostNumber = request.hostNumber ?? defaultHostNumber(ns);
  const explicitHost = request.hostNumber !== undefined || ns === DEFAULT_NETNS;
  for (let tries = 0; taken(layoutOf(ns, hostNumber, parseIpv4Range(DEFAULT_IPV4_RANGE)), 'host').length > 0; tries++) {
    if (explicitHost || tries > 0xffff) throw new Error(`${taken(layoutOf(ns, hostNumber, parseIpv4Range(DEFAULT_IPV4_RANGE)), 'host')[0]}; choose another with --host-number`);
    hostNumber = (hostNumber % 0xffff) + 1;
  }
  const fixedRange = request.ipv4Range ?? (ns === DEFAULT_NETNS ? parseIpv4Range(DEFAULT_IPV4_RANGE) : undefined);
  const ranges = fixedRange ? [fixedRange] : poolCandidates(ns);
  for (const range of ranges) {
    const layout = layoutOf(ns, hostNumber, range);
    if (taken(layout, 'range').length === 0) return layout;
    if (fixedRange) throw new Error(`${taken(layout, 'range')[0]}; choose another with --ipv4-range`);
  }
  throw new Error('every /20 of the default IPv4 pool is in use on this host; choose a range with --ipv4-range');
}
