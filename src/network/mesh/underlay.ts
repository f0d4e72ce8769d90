/**
 * The port through which a host's machines reach the other hosts': one link in the
 * machines' namespace carrying every peer (WireGuard, or a plain VXLAN on a trusted
 * network). The mesh keeper
 * publishes its end, makes sure the link is there and hands it the peers.
 */
import type { UnderlayEnd, UnderlayKind } from '../../domain/ports.ts';
import type { Peer } from './peers.ts';

export interface UnderlayLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

export interface Underlay {
  readonly kind: UnderlayKind;
  /** The link's name in the machines' namespace: routes to peers go through it. */
  readonly link: string;
  /** What this host publishes for its peers. */
  end(): UnderlayEnd;
  /** Makes the link if it is missing or is not this host's (whatever was there), and brings it up. */
  ensure(): Promise<void>;
  /** Gives the link exactly these peers. */
  configure(peers: Peer[]): Promise<void>;
  /** The gateway on the link a peer's /64s are routed by, if the link needs one. */
  gateway(peer: Peer): { via?: string };
}
