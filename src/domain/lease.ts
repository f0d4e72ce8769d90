/**
 * Machine leases: an exclusive, expiring lock on changing a machine. While a
 * lease is live, every mutating call must carry its nonce (metadata writes
 * aside: fly-go sends none with them). A lease has no version of its own: Fly
 * answers the machine's current version with it, so it is shown, not stored.
 */
import { HangarError, invalid } from './errors.ts';

export interface Lease {
  nonce: string;
  owner: string;
  description: string;
  /** Unix milliseconds. */
  expiresAt: number;
}

export const DEFAULT_LEASE_TTL_S = 30;
export const MAX_LEASE_TTL_S = 24 * 3600;

export function liveLease(lease: Lease | null, now: number): Lease | null {
  return lease && lease.expiresAt > now ? lease : null;
}

export function leaseHeldError(machineId: string, lease: Lease): HangarError {
  const expires = new Date(lease.expiresAt).toISOString();
  return new HangarError(
    'lease_conflict',
    `machine ${machineId}: lease currently held by ${lease.owner}, expires at ${expires}`,
    'pass the lease nonce in the fly-machine-lease-nonce header, or wait for the lease to expire',
  );
}

export function parseTtl(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_LEASE_TTL_S;
  const ttl = typeof value === 'string' ? Number(value) : value;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_LEASE_TTL_S) {
    throw invalid(`ttl must be a whole number of seconds from 1 to ${MAX_LEASE_TTL_S}`);
  }
  return ttl;
}

export interface LeaseRequest {
  machineId: string;
  nonce?: string | undefined;
  ttlSeconds: number;
  description: string;
  owner: string;
}

/**
 * Acquires a lease, or refreshes it when the caller presents the live nonce.
 * `freshNonce` is the nonce of a new lease.
 */
export function acquireLease(current: Lease | null, request: LeaseRequest, now: number, freshNonce: string): Lease {
  const live = liveLease(current, now);
  const expiresAt = now + request.ttlSeconds * 1000;
  if (live) {
    if (request.nonce !== live.nonce) throw leaseHeldError(request.machineId, live);
    return { ...live, expiresAt, description: request.description || live.description };
  }
  return { nonce: freshNonce, owner: request.owner, description: request.description, expiresAt };
}

/** Throws unless the machine is unleased or `nonce` is the live lease's nonce. */
export function checkLease(machineId: string, current: Lease | null, nonce: string | undefined, now: number): void {
  const live = liveLease(current, now);
  if (live && live.nonce !== nonce) throw leaseHeldError(machineId, live);
}

export function releaseLease(machineId: string, current: Lease | null, nonce: string | undefined, now: number): null {
  const live = liveLease(current, now);
  if (!live) throw new HangarError('not_found', `lease not found for machine ${machineId}`);
  if (!nonce) throw invalid('the fly-machine-lease-nonce header is required to release a lease');
  if (nonce !== live.nonce) throw leaseHeldError(machineId, live);
  return null;
}
