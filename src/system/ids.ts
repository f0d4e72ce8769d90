/** Real id sources: monotonic ULIDs and random hex from the OS's CSPRNG. */
import { randomBytes, randomInt } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Ids } from '../control/ports.ts';

export function systemIds(): Ids {
  const ulid = monotonicFactory();
  return {
    ulid: () => ulid(),
    machineId: () => randomBytes(7).toString('hex'),
    nonce: () => randomBytes(16).toString('hex'),
    int: (max) => randomInt(max),
  };
}
