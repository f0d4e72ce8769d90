/** Real id sources: monotonic ULIDs and random hex from the OS's CSPRNG. */
import { randomBytes, randomInt } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Clock, Ids } from '../domain/ports.ts';

/** `clock` stamps the ULIDs (events, versions): a cluster's processes stamp them by one clock. */
export function systemIds(clock: Clock = { now: () => Date.now() }): Ids {
  const ulid = monotonicFactory();
  return {
    ulid: () => ulid(clock.now()),
    machineId: () => randomBytes(7).toString('hex'),
    nonce: () => randomBytes(16).toString('hex'),
    int: (max) => randomInt(max),
  };
}
