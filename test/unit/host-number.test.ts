import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostNumberClaim, HostNumbers } from '../../src/domain/ports.ts';
import { clusterHostNumber } from '../../src/network/host-number.ts';

/** The database's numbers, in memory, with the store's rule (see HostNumbers.claim). */
function numbers(held: Record<string, number> = {}): HostNumbers & { held: Map<string, number> } {
  const map = new Map(Object.entries(held));
  return {
    held: map,
    async claim(hostId, wanted): Promise<HostNumberClaim> {
      const own = map.get(hostId);
      if (own !== undefined) return { number: own, heldBy: hostId };
      const taken = new Set(map.values());
      const holder = [...map].find(([, number]) => number === wanted)?.[0];
      if (holder !== undefined) return { number: wanted as number, heldBy: holder };
      let number = wanted ?? 1;
      while (wanted === undefined && taken.has(number)) number++;
      map.set(hostId, number);
      return { number, heldBy: hostId };
    },
  };
}

describe('a cluster host\'s number', () => {
  it('is the database\'s: the lowest free at the first start, then the same', async () => {
    const db = numbers({ other: 1 });
    assert.equal(await clusterHostNumber(db, { hostId: 'h1' }), 2);
    assert.equal(await clusterHostNumber(db, { hostId: 'h1', kept: 2 }), 2);
  });

  it('is the one asked for or kept, when no other host has it', async () => {
    const db = numbers();
    assert.equal(await clusterHostNumber(db, { hostId: 'h1', asked: 0xa7b }), 0xa7b);
    assert.equal(await clusterHostNumber(db, { hostId: 'h2', kept: 0x10 }), 0x10, 'a data directory set up before it joined keeps its machines\' number');
  });

  it('refuses a number another host has, naming it, and writes nothing', async () => {
    const db = numbers({ syd: 0xa7b });
    await assert.rejects(clusterHostNumber(db, { hostId: 'fra', asked: 0xa7b }), /host number a7b \(--host-number\) is host syd's in the cluster's database: ask for another/);
    await assert.rejects(clusterHostNumber(db, { hostId: 'fra', kept: 0xa7b }), /host number a7b, which this data directory keeps, is host syd's/);
    assert.equal(db.held.has('fra'), false);
  });

  it('refuses a data directory and a database (or a flag) that disagree', async () => {
    const db = numbers({ fra: 3 });
    await assert.rejects(clusterHostNumber(db, { hostId: 'fra', kept: 4 }), /keeps host number 4, but the cluster's database gives host fra number 3/);
    await assert.rejects(clusterHostNumber(db, { hostId: 'fra', asked: 4 }), /host fra has number 3 in the cluster's database, not 4/);
    await assert.rejects(clusterHostNumber(db, { hostId: 'fra', kept: 3, asked: 4 }), /machines use host number 3, not 4/);
  });
});
