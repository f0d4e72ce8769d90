import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workChecker } from '../../src/cluster/work-check.ts';
import { queuedWorkIn } from '../../src/store/documents.ts';
import type { Store } from '../../src/store/store.ts';
import { machine } from '../helpers/store-fixtures.ts';

const mine = machine({ id: '148e21ea7e6de8', hostId: 'h1' });
const doc = (extra: Record<string, unknown> = {}) => JSON.stringify({ hostId: 'h1', rev: 1, spec: { machineId: mine.id, appName: mine.appName }, effects: [{ kind: 'prepare' }], ...extra });

/** A store that counts its reads and answers `record` for every machine. */
function records(record: typeof mine | null) {
  const reads: string[] = [];
  const store: Pick<Store, 'getMachineById' | 'getVolume'> = {
    async getMachineById(id) { reads.push(id); return record; },
    async getVolume() { return null; },
  };
  return { store, reads };
}

describe('checking host work against the machine\'s record', () => {
  it('uses the record read with the work, and reads it only when none came with it', async () => {
    const { store, reads } = records(mine);
    const check = workChecker(store, 'h1');
    assert.equal(await check(queuedWorkIn({ id: '1', doc: doc(), machine_id: mine.id, machine: JSON.stringify(mine) })), undefined);
    assert.deepEqual(reads, [], 'no read: the claim brought the record');
    assert.match(await check(queuedWorkIn({ id: '2', doc: doc(), machine_id: mine.id, machine: null })) ?? '', /has no record/, 'a record read as missing is missing');
    assert.equal(await check(queuedWorkIn({ id: '3', doc: doc() })), undefined);
    assert.deepEqual(reads, [mine.id], 'read once, for the piece read alone');
  });

  it('takes no record from the work\'s own document, nor one joined by another machine\'s id', async () => {
    const theirs = { ...mine, hostId: 'h2' };
    const { store, reads } = records(theirs);
    const check = workChecker(store, 'h1');
    const forged = queuedWorkIn({ id: '1', doc: doc({ machine: mine }) });
    assert.equal(forged.machine, undefined);
    assert.match(await check(forged) ?? '', /placed on host h2/);
    const joinedToOther = queuedWorkIn({ id: '2', doc: doc(), machine_id: 'another', machine: JSON.stringify(mine) });
    assert.equal(joinedToOther.machine, undefined);
    assert.match(await check(joinedToOther) ?? '', /placed on host h2/);
    assert.equal(reads.length, 2);
  });

  it('refuses work whose document does not parse, without throwing', async () => {
    const { store } = records(mine);
    const piece = queuedWorkIn({ id: '7', doc: '{"hostId": "h1", torn' });
    assert.equal(piece.id, 7);
    assert.match(await workChecker(store, 'h1')(piece) ?? '', /is not a machine id/);
  });
});
