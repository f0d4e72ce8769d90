/**
 * The relay of machine changes between a cluster's processes (src/cluster/relay.ts),
 * over a link and a store that the test drives: what it reads, and what it tells
 * the waiters of this process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { relayMachineChanges } from '../../src/cluster/relay.ts';
import type { ControlDeps } from '../../src/control/ports.ts';
import { WaitHub } from '../../src/control/wait-hub.ts';
import type { ClusterLink } from '../../src/store/link.ts';
import type { MachineListing } from '../../src/store/store.ts';
import { machineRecord } from './fixtures.ts';

/** A link whose announcements the test makes, and a store whose reads answer what the test queues. */
function relayed() {
  const changed: Array<(machineId: string, rev: number | undefined) => void> = [];
  const missed: Array<() => void> = [];
  const link = {
    onMachineChanged: (listener) => changed.push(listener),
    onMissedChanges: (listener) => missed.push(listener),
    onWork: () => () => undefined,
    onRequests: () => () => undefined,
    onHostChanged: () => undefined,
    close: async () => undefined,
  } satisfies ClusterLink;
  const reads: string[][] = [];
  const answers: Array<MachineListing[] | Promise<MachineListing[]>> = [];
  const waits = new WaitHub();
  const deps = {
    waits,
    store: {
      async getListings(ids: string[]) {
        reads.push(ids);
        return (await (answers.shift() ?? [])).filter((listing) => ids.includes(listing.machine.id));
      },
    },
  } as unknown as ControlDeps;
  const stop = relayMachineChanges(deps, link, pino({ level: 'silent' }));
  return {
    waits, reads, answers, stop,
    announce: (id: string, rev?: number) => { for (const listener of changed) listener(id, rev); },
    missedChanges: () => { for (const listener of missed) listener(); },
  };
}

const listing = (id: string, state: 'created' | 'started', rev: number): MachineListing => ({ machine: machineRecord({ id, state, rev }), events: [] });

describe('the relay of machine changes', () => {
  it('reads announcements heard together once, and not one of a revision its waiters know', async () => {
    const r = relayed();
    const a = r.waits.wait('m-a', (change) => change.state === 'started', 5_000);
    const b = r.waits.wait('m-b', (change) => change.state === 'started', 5_000);
    r.waits.publish('m-a', { state: 'created', version: 'v', eventId: '', rev: 2 });
    r.answers.push([listing('m-a', 'started', 3), listing('m-b', 'started', 7)]);
    r.announce('m-a', 2);
    r.announce('m-a', 3);
    r.announce('m-b', 7);
    r.announce('m-nobody', 1);
    assert.equal((await a)?.state, 'started');
    assert.equal((await b)?.listing?.machine.rev, 7, 'the listing read comes with the change');
    assert.deepEqual(r.reads, [['m-a', 'm-b']]);
    r.stop();
  });

  it('reads again a machine this process wrote that a read missed, rather than tell its waiters it is gone', async () => {
    const r = relayed();
    // A create waits for its machine from before the insert, and knows its revision once the insert is recorded.
    const created = r.waits.wait('m-new', (change) => change.state !== 'creating', 5_000);
    // A reread of everything waited for, begun before the insert committed: it finds no record.
    r.answers.push([]);
    r.missedChanges();
    r.waits.publish('m-new', { state: 'creating', version: 'v', eventId: '', rev: 1 });
    r.answers.push([listing('m-new', 'created', 2)]);
    const change = await Promise.race([created, sleep(1_000).then(() => 'still waiting')]);
    assert.notEqual(typeof change === 'string' ? change : change?.state, 'destroyed');
    assert.equal(typeof change === 'string' ? change : change?.state, 'created');
    assert.deepEqual(r.reads, [['m-new'], ['m-new']]);
    r.stop();
  });

  it('does not tell a create its machine is gone from a read that ended before its insert was recorded', async () => {
    const r = relayed();
    // As createMachine waits: a record not found counts only once its insert is recorded.
    let recorded = false;
    const created = r.waits.wait('m-new', (change) => change.state !== 'creating' && (recorded || change.rev !== undefined), 5_000);
    const other = r.waits.wait('m-other', (change) => change.state === 'started', 5_000);
    r.waits.publish('m-other', { state: 'created', version: 'v', eventId: '', rev: 2 });
    // A reread of both finds neither; m-other, known here, is read again, and m-new is recorded meanwhile.
    r.answers.push([]);
    let answerAgain: (listings: MachineListing[]) => void = () => undefined;
    r.answers.push(new Promise<MachineListing[]>((resolve) => { answerAgain = resolve; }));
    r.missedChanges();
    await sleep(20);
    recorded = true;
    r.waits.publish('m-new', { state: 'creating', version: 'v', eventId: '', rev: 1 });
    answerAgain([listing('m-other', 'started', 3)]);
    assert.equal((await other)?.state, 'started');
    assert.equal(await Promise.race([created.then((change) => change?.state), sleep(200).then(() => 'still waiting')]), 'still waiting');
    r.stop();
  });

  it('answers waiters of a machine whose record is gone that it was destroyed', async () => {
    const r = relayed();
    const gone = r.waits.wait('m-old', (change) => change.state === 'destroyed', 5_000);
    r.answers.push([]);
    r.announce('m-old', 9);
    assert.equal((await gone)?.state, 'destroyed');
    r.stop();
  });
});
