/** The IP addresses the edge proxy is reached at, from its listeners' hosts (pure). */
import { isIP } from 'node:net';

export interface InterfaceAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  internal: boolean;
}

/**
 * The proxy's addresses, each once: the IP hosts its listeners are bound to, with
 * a wildcard standing for the host's own addresses other than loopback and
 * link-local (`0.0.0.0` its IPv4 ones, `::` all of them). Host names are left
 * out: which address they resolve to is not the proxy's to say.
 */
export function proxyAddresses(hosts: readonly string[], interfaces: readonly InterfaceAddress[]): string[] {
  const out = new Set<string>();
  const own = (family?: 'IPv4') => interfaces
    .filter((i) => !i.internal && !i.address.toLowerCase().startsWith('fe80:') && (family === undefined || i.family === family))
    .map((i) => i.address);
  for (const host of hosts) {
    if (host === '0.0.0.0') own('IPv4').forEach((a) => out.add(a));
    else if (host === '::') own().forEach((a) => out.add(a));
    else if (isIP(host) !== 0) out.add(host);
  }
  return [...out];
}
