/**
 * A cluster host's number, which its machines' 6PN addresses carry
 * (`fdaa:0:<app>:<host>::/64`): the database gives it at the host's first
 * registration (the lowest free one, or the one asked for with --host-number) and
 * the data directory keeps it. A number is a host's for good, so a data directory
 * and a database that disagree (a data directory of another cluster, or of another
 * host) refuse to start, as does asking for a number another host has.
 */
import { formatHostNumber } from './layout.ts';
import type { HostNumbers } from '../domain/ports.ts';

export interface HostNumberRequest {
  hostId: string;
  /** What the data directory keeps from an earlier start. */
  kept?: number;
  /** --host-number. */
  asked?: number;
}

export async function clusterHostNumber(numbers: HostNumbers, request: HostNumberRequest): Promise<number> {
  const { hostId, kept, asked } = request;
  const hex = formatHostNumber;
  if (kept !== undefined && asked !== undefined && kept !== asked) {
    throw new Error(`this data directory's machines use host number ${hex(kept)}, not ${hex(asked)} (--host-number)`);
  }
  const claim = await numbers.claim(hostId, kept ?? asked);
  if (claim.heldBy !== hostId) {
    const source = kept !== undefined ? ', which this data directory keeps,' : ' (--host-number)';
    throw new Error(`host number ${hex(claim.number)}${source} is host ${claim.heldBy}'s in the cluster's database: `
      + (kept !== undefined ? 'this data directory was set up as another host, or for another cluster' : 'ask for another, or leave --host-number out and the database gives this host the lowest free one'));
  }
  if (kept !== undefined && claim.number !== kept) {
    throw new Error(`this data directory keeps host number ${hex(kept)}, but the cluster's database gives host ${hostId} number ${hex(claim.number)}: the data directory was set up for another cluster or another host`);
  }
  if (asked !== undefined && claim.number !== asked) {
    throw new Error(`host ${hostId} has number ${hex(claim.number)} in the cluster's database, not ${hex(asked)}: leave --host-number out, or give ${hex(claim.number)}`);
  }
  return claim.number;
}
