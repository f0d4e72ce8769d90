/**
 * The plain underlay, for a trusted network between hosts (and to compare with
 * WireGuard): one VXLAN link in the machines' namespace, made where hangar runs so
 * its UDP socket stays on the host's network, carrying IPv6 unencrypted. Each host's
 * end of it has a MAC and a link-local address its number gives (02:68:67:00:HH:LL,
 * fe80::<number>); a peer is a forwarding entry (its MAC → its endpoint) and a
 * permanent neighbour, and its /64s are routed by its link-local address. Nothing
 * is learnt from what arrives; the namespace's firewall still takes only the peers'
 * /64s, but anyone on the network can send such packets: use it where nobody else can.
 */
import type { UnderlayEnd } from '../../domain/ports.ts';
import { exec } from '../host-network.ts';
import { formatEndpoint, type Peer } from './peers.ts';
import type { Underlay, UnderlayLog } from './underlay.ts';

/** Any number, the same on every host: the VXLAN network hangar's hosts share. */
const VNI = 6;
/** Room for VXLAN's 50 bytes inside a 1500-byte underlay. */
const MTU = 1450;

export interface PlainOptions {
  ns: string;
  link: string;
  endpoint: { host: string; port: number };
  hostNumber: number;
  log: UnderlayLog;
}

export function hostMac(hostNumber: number): string {
  return `02:68:67:00:${((hostNumber >> 8) & 0xff).toString(16).padStart(2, '0')}:${(hostNumber & 0xff).toString(16).padStart(2, '0')}`;
}

export function hostLinkLocal(hostNumber: number): string {
  return `fe80::${hostNumber.toString(16)}`;
}

interface LinkJson {
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; local6?: string; port?: number } };
}

export class PlainUnderlay implements Underlay {
  readonly kind = 'plain' as const;
  readonly link: string;
  private readonly options: PlainOptions;
  private peers = new Map<string, Peer>();

  constructor(options: PlainOptions) {
    this.options = options;
    this.link = options.link;
  }

  end(): UnderlayEnd {
    return { kind: 'plain', endpoint: formatEndpoint(this.options.endpoint) };
  }

  gateway(peer: Peer): { via?: string } {
    return { via: hostLinkLocal(peer.hostNumber) };
  }

  async ensure(): Promise<void> {
    const { ns, endpoint, hostNumber, log } = this.options;
    const shown = JSON.parse(await exec(['ip', '-n', ns, '-j', '-d', 'link', 'show', this.link]).catch(() => '[]') || '[]') as LinkJson[];
    const data = shown[0]?.linkinfo?.info_data;
    const ours = shown[0]?.linkinfo?.info_kind === 'vxlan' && data?.id === VNI && (data.local ?? data.local6) === endpoint.host && data.port === endpoint.port;
    if (!ours) {
      await exec(['ip', '-n', ns, 'link', 'del', this.link]).catch(() => undefined);
      await exec(['ip', 'link', 'del', this.link]).catch(() => undefined);
      await exec(['ip', 'link', 'add', this.link, 'type', 'vxlan', 'id', String(VNI), 'local', endpoint.host, 'dstport', String(endpoint.port), 'nolearning']);
      await exec(['ip', 'link', 'set', this.link, 'netns', ns]);
      this.peers.clear();
      log.info({ netns: ns, link: this.link }, `network: plain (VXLAN) link ${this.link} made`);
    }
    await exec(['ip', '-n', ns, 'link', 'set', this.link, 'address', hostMac(hostNumber), 'mtu', String(MTU)]);
    await exec(['ip', '-n', ns, '-6', 'addr', 'replace', `${hostLinkLocal(hostNumber)}/64`, 'dev', this.link, 'nodad']);
    await exec(['ip', '-n', ns, 'link', 'set', this.link, 'up']);
  }

  /** Each peer's forwarding entry and neighbour, replaced; those of peers gone, removed. */
  async configure(peers: Peer[]): Promise<void> {
    const { ns } = this.options;
    const wanted = new Map(peers.map((peer) => [peer.hostId, peer]));
    for (const [hostId, peer] of this.peers) {
      if (wanted.get(hostId)?.hostNumber === peer.hostNumber) continue;
      await exec(['bridge', '-n', ns, 'fdb', 'del', hostMac(peer.hostNumber), 'dev', this.link, 'self']).catch(() => undefined);
      await exec(['ip', '-n', ns, '-6', 'neigh', 'del', hostLinkLocal(peer.hostNumber), 'dev', this.link]).catch(() => undefined);
    }
    for (const peer of peers) {
      await exec(['bridge', '-n', ns, 'fdb', 'replace', hostMac(peer.hostNumber), 'dev', this.link, 'dst', peer.endpoint.host, 'port', String(peer.endpoint.port), 'self', 'permanent']);
      await exec(['ip', '-n', ns, '-6', 'neigh', 'replace', hostLinkLocal(peer.hostNumber), 'lladdr', hostMac(peer.hostNumber), 'dev', this.link, 'nud', 'permanent']);
    }
    this.peers = wanted;
  }
}
