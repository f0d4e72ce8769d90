/**
 * Who owns which addresses. Each hangar network (one namespace) is a host with a
 * number and an IPv4 range of its own, so two of them on one machine never claim
 * the same route, transit address or machine address:
 *
 *   machine  fdaa:0:<app>:<host>:<machine hi>:<machine lo>:0:2   the app's /48 first (isolation relies on it)
 *   transit  fdaa:0:0:<host>::1/64 host side, ::2 namespace side   (app number 0 is never given out)
 *   IPv4     machines take the range but its last /24, which holds the transit /30 (.1 host, .2 namespace)
 *            and every guest's gateway (.254); each machine the address allocated to it (domain/ipv4.ts)
 *
 * The defaults keep what hangar used before: host a7b and 172.19.0.0/16 for the
 * namespace `hangar`. Pure functions, no I/O.
 */
import { DEFAULT_HOST_NUMBER, ipv6Groups } from '../domain/address.ts';
import { formatIpv4, type Ipv4Range, parseCidr4, rangeSize } from '../domain/ipv4.ts';

export { ipv6Groups } from '../domain/address.ts';

export type { Ipv4Range, MachineAddresses } from '../domain/ipv4.ts';
export { derivedIpv4, formatIpv4, formatIpv4Range, machineIpv4, parseCidr4 } from '../domain/ipv4.ts';

export interface NetworkLayout {
  /** Network namespace name. */
  ns: string;
  /** Host-side veth name (≤ 15 characters, unique per namespace). */
  hostVeth: string;
  /** The group after the app's /48 in every machine address of this host (1-ffff). */
  hostNumber: number;
  ipv4Range: Ipv4Range;
}

export const DEFAULT_NETNS = 'hangar';
export const DEFAULT_IPV4_RANGE = '172.19.0.0/16';
/** Other namespaces get the first free /20 of this pool, starting at a place their name picks. */
export const IPV4_POOL = '172.20.0.0/14';
const POOL_BLOCK = 20;
export const NS_VETH = 'hgrv0';
/** Every TAP carries these, so a guest's gateways never depend on where it runs. */
export const GUEST_GATEWAY6 = 'fe80::1';
/** Where guests ask the private DNS, as on Fly; the namespace sends it to the host's transit address. */
export const PRIVATE_DNS = 'fdaa::3';
export const DNS_PORT = 53;
/** A route of last resort for 6PN addresses (see plan.ts), the same on every hangar. */
export const SIXPN = 'fdaa::/16';
export const MIN_RANGE_LENGTH = 8;
export const MAX_RANGE_LENGTH = 23;

export function layoutOf(ns: string, hostNumber: number, ipv4Range: Ipv4Range): NetworkLayout {
  return { ns, hostVeth: hostVethName(ns), hostNumber, ipv4Range };
}

/** `hgr-<ns>`, or, when that is longer than an interface name may be, the start of it and a hash of the whole name. */
export function hostVethName(ns: string): string {
  return linkName('hgr-', ns);
}

/**
 * `hgw-<ns>` (shortened as the veth's name is): the namespace's link to the other
 * hosts. It is made outside the namespace, where the underlay is, and moved in; a
 * userspace WireGuard is known by this name machine-wide, so it carries the namespace's.
 */
export function meshLinkName(ns: string): string {
  return linkName('hgw-', ns);
}

function linkName(prefix: string, ns: string): string {
  const plain = `${prefix}${ns}`;
  return plain.length <= 15 ? plain : `${prefix}${ns.slice(0, 6)}${fnv1a(ns).toString(16).padStart(8, '0').slice(0, 5)}`;
}

/** 32-bit FNV-1a: a stable hash of a name, for defaults derived from it. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const char of text) {
    hash ^= char.codePointAt(0) as number;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The default host number of a namespace: a7b for `hangar`, else one its name picks (never a7b or 0). */
export function defaultHostNumber(ns: string): number {
  if (ns === DEFAULT_NETNS) return DEFAULT_HOST_NUMBER;
  const number = (fnv1a(ns) % 0xfffe) + 1;
  return number === DEFAULT_HOST_NUMBER ? number + 1 : number;
}

/** `a7b` → 2683; host numbers are written as they appear in addresses. */
export function parseHostNumber(text: string): number {
  if (!/^[0-9a-f]{1,4}$/i.test(text) || parseInt(text, 16) === 0) throw new Error(`host number must be 1-ffff (hex, as in the address), got "${text}"`);
  return parseInt(text, 16);
}

export function formatHostNumber(number: number): string {
  return number.toString(16);
}

/** A namespace's range: /8 to /23, aligned. */
export function parseIpv4Range(text: string): Ipv4Range {
  const range = /\//.test(text) ? parseCidr4(text) : undefined;
  if (!range) throw new Error(`IPv4 range must be a CIDR block like ${DEFAULT_IPV4_RANGE}, got "${text}"`);
  if (range.prefixLength < MIN_RANGE_LENGTH || range.prefixLength > MAX_RANGE_LENGTH) {
    throw new Error(`IPv4 range must be /${MIN_RANGE_LENGTH} to /${MAX_RANGE_LENGTH} (its last /24 holds the transit link and the gateway), got "${text}"`);
  }
  if (range.base % rangeSize(range) !== 0) throw new Error(`IPv4 range "${text}" has host bits set`);
  return range;
}

export function rangesOverlap(a: Ipv4Range, b: Ipv4Range): boolean {
  return a.base < b.base + rangeSize(b) && b.base < a.base + rangeSize(a);
}

/** The /20 blocks of the pool, in the order a namespace tries them: from the one its name picks, wrapping. */
export function poolCandidates(ns: string): Ipv4Range[] {
  const pool = parseIpv4Range(IPV4_POOL);
  const count = 2 ** (POOL_BLOCK - pool.prefixLength);
  const first = fnv1a(ns) % count;
  return Array.from({ length: count }, (_, i) => ({ base: pool.base + ((first + i) % count) * 2 ** (32 - POOL_BLOCK), prefixLength: POOL_BLOCK }));
}

function lastBlock(range: Ipv4Range): number {
  return range.base + rangeSize(range) - 256;
}

export interface TransitAddresses {
  host6: string;
  ns6: string;
  host4: string;
  ns4: string;
  /** Every guest's IPv4 gateway (on each TAP). */
  gateway4: string;
}

export function transit(layout: NetworkLayout): TransitAddresses {
  const prefix = transitPrefix(layout.hostNumber);
  const block = lastBlock(layout.ipv4Range);
  return {
    host6: `${prefix}1`, ns6: `${prefix}2`,
    host4: formatIpv4(block + 1), ns4: formatIpv4(block + 2), gateway4: formatIpv4(block + 254),
  };
}

function transitPrefix(hostNumber: number): string {
  return `fdaa:0:0:${formatHostNumber(hostNumber)}::`;
}

/** Host `hostNumber`'s own address (its transit link's host side), as a /128: what its edge proxy reaches other hosts' machines from. */
export function hostAddress(hostNumber: number): string {
  return `${transitPrefix(hostNumber)}1/128`;
}

/** Every host's transit addresses (app number 0): never a machine's. */
export const TRANSIT_RANGE = 'fdaa:0:0::/48';

/** An app's /48 (fdaa:0:<app>::/48) from one of its machines' addresses. */
export function appPrefix(machineIp: string): string {
  return canonicalPrefix(`${machineIp.split(':').slice(0, 3).join(':')}::/48`);
}

/** The RFC 5952 form `ip` prints (`fdaa:0:1:a7b:1:0:0:2` → `fdaa:0:1:a7b:1::2`); IPv4 as is. */
export function canonicalAddress(address: string): string {
  if (!address.includes(':')) return address;
  const values = ipv6Groups(address).map((group) => group.toString(16));
  let best = { at: -1, length: 1 };
  for (let at = 0; at < 8; at++) {
    let length = 0;
    while (at + length < 8 && values[at + length] === '0') length++;
    if (length > best.length) best = { at, length };
  }
  if (best.at < 0) return values.join(':');
  return `${values.slice(0, best.at).join(':')}::${values.slice(best.at + best.length).join(':')}`;
}

/** `addr/len` in canonical form; a bare address gets its full length (as `ip` prints host routes bare). */
export function canonicalPrefix(prefix: string): string {
  const [address = '', length] = prefix.split('/');
  return `${canonicalAddress(address)}/${length ?? (address.includes(':') ? 128 : 32)}`;
}
