/** The real id sources: ULIDs in order and unpredictable, machine ids and nonces. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemIds } from '../../src/system/ids.ts';

describe('systemIds', () => {
  it('gives ULIDs that sort in the order made, with a fresh random part at each millisecond', () => {
    let now = 1_700_000_000_000;
    const ids = systemIds({ now: () => now });
    const made: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      if (i % 3 === 0) now++;
      made.push(ids.ulid());
    }
    for (const id of made) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.deepEqual([...made].sort(), made, 'in the order made');
    assert.equal(new Set(made).size, made.length);
    const randomParts = new Set(made.filter((_, i) => i % 3 === 0).map((id) => id.slice(10)));
    assert.equal(randomParts.size, 1_000, 'each millisecond draws its own');
  });

  it('gives machine ids of 14 hex digits and nonces of 32', () => {
    const ids = systemIds();
    assert.match(ids.machineId(), /^[0-9a-f]{14}$/);
    assert.match(ids.nonce(), /^[0-9a-f]{32}$/);
    assert.notEqual(ids.nonce(), ids.nonce());
  });
});
