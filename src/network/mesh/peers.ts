/**
 * The private network across hosts as data: from every host's published end and
 * every host's machines, the peers this host keeps and the /64s it routes to each
 * (an app's machines on a host live in fdaa:0:<app>:<host>::/64). A route exists
 * while the app has a machine, not destroyed, on that peer; and one to the peer's
 * own address, from which its edge proxy reaches this host's machines; a machine
 * moved to a peer with its address kept is routed there as a /128. What other hosts wrote
 * is read as hostile: an end that is not an address and port, or that points at
 * this host's loopback, or a key that is not one, leaves that host out, with the
 * reason; a machine whose address is not in its own host's /64s (a host writes its
 * machines' records) brings no route. Pure: mesh-keeper.ts applies the plan.
 */
import { isIP } from 'node:net';
import type { DirectoryMachine, MeshHost, UnderlayKind } from '../../domain/ports.ts';
import { canonicalAddress, canonicalPrefix, hostAddress, ipv6Groups } from '../layout.ts';

export interface Peer {
  hostId: string;
  hostNumber: number;
  endpoint: { host: string; port: number };
  publicKey?: string;
  /** The /64s of this peer's machines, by app, canonical and sorted. */
  prefixes: string[];
  /** The peer's own address (/128), from which its edge proxy reaches this host's machines. */
  host: string;
}

export interface PeerPlan {
  peers: Peer[];
  /** Hosts left out, and why (for the log). */
  skipped: Array<{ hostId: string; reason: string }>;
}

/** The groups of a machine's 6PN address (fdaa:0:<app>:…, app number not 0), or undefined for anything else. */
function machineAddressGroups(address: string): number[] | undefined {
  if (isIP(address) !== 6 || address.includes('.')) return undefined;
  const groups = ipv6Groups(address);
  return groups[0] === 0xfdaa && groups[1] === 0 && groups[2] ? groups : undefined;
}

/** The /64 a 6PN address lies in, if it is one of host `hostNumber`'s (`fdaa:0:<app>:<host>::/64`). */
export function spanPrefix(address: string, hostNumber: number): string | undefined {
  const groups = machineAddressGroups(address);
  if (!groups || groups[3] !== hostNumber) return undefined;
  return canonicalPrefix(`fdaa:0:${(groups[2] as number).toString(16)}:${hostNumber.toString(16)}::/64`);
}

/** A moved machine's kept address, as the /128 routed to its new host (longer than its former host's /64). */
function movedPrefix(address: string): string | undefined {
  return machineAddressGroups(address) && `${canonicalAddress(address)}/128`;
}

export function planPeers(self: { hostId: string; kind: UnderlayKind; publicKey?: string }, hosts: MeshHost[], machines: readonly DirectoryMachine[]): PeerPlan {
  const hostsById = new Map(hosts.map((host) => [host.hostId, host]));
  const byHost = new Map<string, Set<string>>();
  const strays = new Set<string>();
  for (const machine of machines) {
    const host = hostsById.get(machine.hostId);
    if (machine.hostId === self.hostId || machine.state === 'destroyed' || !host) continue;
    const prefix = machine.movedAddress ? movedPrefix(machine.privateIp) : spanPrefix(machine.privateIp, host.hostNumber);
    if (!prefix) strays.add(host.hostId);
    else byHost.set(host.hostId, (byHost.get(host.hostId) ?? new Set()).add(prefix));
  }
  const peers: Peer[] = [];
  const skipped: PeerPlan['skipped'] = [...strays].sort().map((hostId) => ({ hostId, reason: 'a machine it holds has an address outside its own /64s (left out of its routes)' }));
  for (const host of [...hosts].sort((a, b) => a.hostNumber - b.hostNumber)) {
    const prefixes = [...(byHost.get(host.hostId) ?? [])].sort();
    if (host.hostId === self.hostId || prefixes.length === 0) continue;
    const problem = endProblem(host, self.kind) ?? keyProblem(host, self.publicKey, hosts);
    if (problem) {
      skipped.push({ hostId: host.hostId, reason: problem });
      continue;
    }
    peers.push({
      hostId: host.hostId, hostNumber: host.hostNumber, endpoint: parseEndpoint(host.endpoint) as Peer['endpoint'], prefixes, host: hostAddress(host.hostNumber),
      ...(host.kind === 'wireguard' ? { publicKey: host.publicKey } : {}),
    });
  }
  return { peers, skipped };
}

const WIREGUARD_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export function isWireguardKey(text: string): boolean {
  return WIREGUARD_KEY.test(text);
}

function endProblem(host: MeshHost, kind: UnderlayKind): string | undefined {
  if (host.kind !== kind) return `it reaches its peers over ${host.kind}, this host over ${kind}`;
  const endpoint = parseEndpoint(host.endpoint);
  if (!endpoint) return `its endpoint "${String(host.endpoint).slice(0, 80)}" is not IP:PORT`;
  if (!isRoutable(endpoint.host)) return `its endpoint ${host.endpoint} is not an address another host can reach`;
  if (kind === 'wireguard' && !isWireguardKey(host.publicKey ?? '')) return 'its WireGuard public key is not one';
  return undefined;
}

/** A key that is this host's or another host's too: `wg` would merge the peers, and one would take the other's traffic. */
function keyProblem(host: MeshHost, own: string | undefined, hosts: MeshHost[]): string | undefined {
  if (host.kind !== 'wireguard') return undefined;
  if (host.publicKey === own) return 'it published this host\'s own public key';
  const twin = hosts.find((other) => other.hostId !== host.hostId && other.publicKey === host.publicKey);
  return twin ? `it published the same public key as host ${twin.hostId}` : undefined;
}

/** `10.0.0.1:51820` or `[fd00::1]:51820`: an IP literal and a port 1-65535. */
export function parseEndpoint(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (isIP(host) === 0 || port < 1 || port > 65535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  // As `ip` prints it, so that what was asked for and what is there compare equal.
  return { host: match[1] !== undefined && !host.includes('.') ? canonicalAddress(host.toLowerCase()) : host, port };
}

export function formatEndpoint(endpoint: { host: string; port: number }): string {
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/** Not this host's own (loopback), nothing (unspecified) or everyone (multicast, broadcast). */
export function isRoutable(ip: string): boolean {
  if (isIP(ip) === 4) {
    const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
    return a !== 127 && a !== 0 && a < 224 && !(a === 169 && b === 254) && !(a === 255 && b === 255 && c === 255 && d === 255);
  }
  const lower = ip.toLowerCase();
  if (lower.includes('.')) return false; // IPv4 written in IPv6: say it as IPv4
  const bare = canonicalPrefix(lower).split('/')[0] as string;
  return bare !== '::1' && bare !== '::' && !bare.startsWith('ff') && !bare.startsWith('fe80:') && !bare.startsWith('::ffff:');
}
