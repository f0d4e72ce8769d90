/** Real id sources: monotonic ULIDs and random hex from the OS's CSPRNG. */
import { randomBytes, randomFillSync, randomInt } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Clock, Ids } from '../domain/ports.ts';

/** `clock` stamps the ULIDs (events, versions): a cluster's processes stamp them by one clock. */
export function systemIds(clock: Clock = { now: () => Date.now() }): Ids {
  const ulid = monotonicFactory(pooledRandom());
  return {
    ulid: () => ulid(clock.now()),
    machineId: () => randomBytes(7).toString('hex'),
    nonce: () => randomBytes(16).toString('hex'),
    int: (max) => randomInt(max),
  };
}

/**
 * Fractions in [0, 1) from the CSPRNG, read a block of bytes at a time: the ULID
 * library asks for one byte per character, each its own call to the OS otherwise.
 */
function pooledRandom(): () => number {
  const pool = Buffer.alloc(4096);
  let next = pool.length;
  return () => {
    if (next >= pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    return (pool[next++] as number) / 256;
  };
}
