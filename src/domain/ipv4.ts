/**
 * Machines' IPv4 addresses (pure). Each host has a range of its own (kept in its
 * data directory, registered with the host); its machines take the range but its
 * last /24, which holds the transit link and every guest's gateway (see
 * network/layout.ts).
 *
 * A machine's address is allocated when it is placed: the lowest one of its host's
 * range that no machine of that host (not destroyed) holds, recorded with the
 * machine. Machines recorded before addresses were allocated have none recorded and
 * keep the one their machine number gives (`derivedIpv4`), as they always had.
 */

export interface Ipv4Range {
  /** The first address, as an unsigned 32-bit number. */
  base: number;
  prefixLength: number;
}

/** A machine's private addresses: its IPv6 one, and the IPv4 one recorded with it, if any. */
export interface MachineAddresses {
  privateIp: string;
  /** Absent on machines recorded before IPv4 addresses were allocated (and on hosts that do not say their range). */
  privateIpv4?: string;
}

/** Any IPv4 block (`a.b.c.d/len`, a bare address is a /32); undefined if it is not one. */
export function parseCidr4(text: string): Ipv4Range | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text);
  const octets = match ? match.slice(1, 5).map(Number) : [];
  const prefixLength = Number(match?.[5] ?? 32);
  if (!match || octets.some((octet) => octet > 255) || prefixLength > 32) return undefined;
  return { base: octets.reduce((sum, octet) => sum * 256 + octet, 0), prefixLength };
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function formatIpv4Range(range: Ipv4Range): string {
  return `${formatIpv4(range.base)}/${range.prefixLength}`;
}

export function rangeSize(range: Ipv4Range): number {
  return 2 ** (32 - range.prefixLength);
}

/** How many machine addresses a range has: all but its last /24. */
export function machineSlots(range: Ipv4Range): number {
  return rangeSize(range) - 256;
}

/**
 * The address a machine recorded without one has: its machine number (groups 5
 * and 6 of its private address) within the range, outside the last /24. Machine
 * numbers are the cluster's, so two machines of one host can have the same.
 */
export function derivedIpv4(privateIp: string, range: Ipv4Range): string {
  const groups = privateIp.split(':');
  const number = parseInt(groups[4] ?? '0', 16) * 0x10000 + parseInt(groups[5] ?? '0', 16);
  return formatIpv4(range.base + (number % machineSlots(range)));
}

/** The IPv4 address a machine's guest has: the one recorded with it, else the derived one. */
export function machineIpv4(machine: MachineAddresses, range: Ipv4Range): string {
  return machine.privateIpv4 ?? derivedIpv4(machine.privateIp, range);
}

/**
 * What the machines of one host (those not destroyed) hold of its range: the
 * addresses recorded with them, and the private (IPv6) addresses of those recorded
 * before addresses were, each of which holds the address its number gives.
 */
export interface Ipv4Holders {
  recorded: readonly string[];
  unrecorded: readonly string[];
}

/** Every address `holders` hold in `range`'s terms. */
export function heldIpv4s(holders: Ipv4Holders, range: Ipv4Range): string[] {
  return [...holders.recorded, ...holders.unrecorded.map((privateIp) => derivedIpv4(privateIp, range))];
}

/** The lowest machine address of the range that `taken` does not hold; undefined when it holds them all. */
export function lowestFreeIpv4(range: Ipv4Range, taken: Iterable<string>): string | undefined {
  const used = new Set<number>();
  for (const address of taken) {
    const value = parseCidr4(address);
    if (value && value.prefixLength === 32) used.add(value.base - range.base);
  }
  for (let slot = 0; slot < machineSlots(range); slot++) if (!used.has(slot)) return formatIpv4(range.base + slot);
  return undefined;
}
