import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { WorkDrain, type WorkRunner } from '../../src/cluster/work-loop.ts';
import type { Effect } from '../../src/domain/lifecycle/decision.ts';
import type { MachineSpec } from '../../src/domain/runtime.ts';
import type { HostFence, QueuedWork, Store } from '../../src/store/store.ts';

const log = pino({ level: 'silent' });
const HOST: HostFence = { hostId: 'h1', epoch: 1 };

let ids = 0;
const work = (machineId: string, rev: number, kind: Effect['kind']): QueuedWork =>
  ({ id: ++ids, hostId: 'h1', rev, spec: { machineId } as MachineSpec, effects: [{ kind } as Effect] });

/** A queue in memory with the store's semantics: reading takes nothing; acknowledging removes. */
function queue(pieces: QueuedWork[]) {
  const faults: { loseNextRead: boolean; refuseAcks: boolean; holdNextRead?: Promise<void> } = { loseNextRead: false, refuseAcks: false };
  const calls = { claims: [] as number[][], acks: [] as number[][] };
  const remove = (acked: readonly number[]) => {
    if (faults.refuseAcks && acked.length > 0) throw new Error('cannot execute DELETE in a read-only transaction');
    for (const id of acked) pieces.splice(pieces.findIndex((piece) => piece.id === id), 1);
  };
  const store: Pick<Store, 'claimWork' | 'ackWork'> = {
    async claimWork(_host, taken, limit, acks = []) {
      calls.claims.push([...acks]);
      remove(acks);
      const read = pieces.filter((piece) => !taken.includes(piece.id)).slice(0, limit);
      // The read's snapshot is taken now; its answer may come after later commits.
      const held = faults.holdNextRead;
      faults.holdNextRead = undefined;
      await held;
      if (faults.loseNextRead) {
        faults.loseNextRead = false;
        throw new Error('Connection terminated unexpectedly');
      }
      return read;
    },
    async ackWork(_host, acked) {
      calls.acks.push([...acked]);
      remove(acked);
    },
  };
  return { store, pieces, faults, calls };
}

function runner(): WorkRunner & { ran: string[] } {
  const ran: string[] = [];
  return { ran, submit: async (spec, effects) => { ran.push(`${spec.machineId}:${effects[0]?.kind}`); } };
}

describe('draining host work: claim, run, acknowledge', () => {
  it('runs the queue in order, skipping (and clearing) work at or below the revision its recovery read of the machine', async () => {
    const q = queue([work('m1', 4, 'launch'), work('m1', 5, 'stop'), work('m2', 1, 'prepare'), work('m1', 6, 'launch'), work('m3', 2, 'destroy')]);
    const agent = runner();
    const drain = new WorkDrain(q.store, HOST, agent, log, { recovered: new Map([['m1', 5], ['m3', 1]]) });
    drain.start();
    await drain.idle();
    drain.stop();
    assert.deepEqual(agent.ran, ['m2:prepare', 'm1:launch', 'm3:destroy']);
    assert.deepEqual(q.pieces, [], 'everything run or moot is acknowledged');
  });

  it('loses nothing when a read\'s answer is lost, and runs each piece once', async () => {
    const q = queue([work('m1', 1, 'prepare'), work('m2', 1, 'prepare')]);
    q.faults.loseNextRead = true;
    const agent = runner();
    const drain = new WorkDrain(q.store, HOST, agent, log, { pollMs: 20 });
    drain.start();
    for (let i = 0; i < 50 && agent.ran.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    drain.kick();
    await drain.idle();
    drain.stop();
    assert.deepEqual(agent.ran, ['m1:prepare', 'm2:prepare']);
    assert.deepEqual(q.pieces, []);
  });

  it('reads a piece that committed after pieces with higher ids were read (ids are given at insert, not at commit)', async () => {
    const late = work('m1', 1, 'prepare');
    const early = work('m2', 1, 'prepare');
    const q = queue([early]);
    const agent = runner();
    const drain = new WorkDrain(q.store, HOST, agent, log, { pollMs: 20 });
    drain.start();
    await drain.idle();
    q.pieces.push(late);
    q.pieces.sort((a, b) => a.id - b.id);
    drain.kick();
    await drain.idle();
    drain.stop();
    assert.deepEqual(agent.ran, ['m2:prepare', 'm1:prepare']);
  });

  it('runs a piece once when a read that began before its acknowledgement answers after it', async () => {
    const q = queue([work('m1', 1, 'prepare')]);
    const agent = runner();
    const drain = new WorkDrain(q.store, HOST, agent, log, { pollMs: 20 });
    drain.start();
    for (let i = 0; i < 50 && agent.ran.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    let answer = () => undefined as void;
    q.faults.holdNextRead = new Promise<void>((resolve) => { answer = resolve; });
    drain.kick();
    for (let i = 0; i < 50 && q.pieces.length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(q.pieces, [], 'acknowledged while the read is out');
    answer();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await drain.idle();
    drain.stop();
    assert.deepEqual(agent.ran, ['m1:prepare']);
  });

  it('acknowledges work done with the next read of the queue, in one call', async () => {
    const first = work('m1', 1, 'prepare');
    const q = queue([first]);
    const agent = runner();
    const drain = new WorkDrain(q.store, HOST, agent, log, { pollMs: 60_000 });
    drain.start();
    for (let i = 0; i < 50 && agent.ran.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    q.pieces.push(work('m2', 1, 'prepare'));
    drain.kick();
    for (let i = 0; i < 50 && agent.ran.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(q.calls.claims.at(-1), [first.id], 'the hint\'s read carried the acknowledgement');
    assert.deepEqual(q.calls.acks, [], 'none went on its own');
    await drain.idle();
    drain.stop();
    assert.deepEqual(agent.ran, ['m1:prepare', 'm2:prepare']);
    assert.deepEqual(q.pieces, []);
  });

  it('acknowledges the work it finished when it stops, so the next session does not run it again', async () => {
    const q = queue([work('m1', 1, 'destroy')]);
    const agent = runner();
    const drain = new WorkDrain(q.store, HOST, agent, log, { pollMs: 60_000 });
    drain.start();
    for (let i = 0; i < 50 && agent.ran.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(q.pieces.length, 1, 'its acknowledgement waits for a read to ride on');
    await drain.stop();
    assert.deepEqual(q.pieces, []);
    drain.kick();
    assert.equal(q.calls.claims.length, 1, 'a stopped drain reads no more');
  });

  it('keeps work done but not acknowledged in the queue for the next session, and runs it once in this one', async () => {
    const q = queue([work('m1', 1, 'prepare')]);
    q.faults.refuseAcks = true;
    const agent = runner();
    const drain = new WorkDrain(q.store, HOST, agent, log, { pollMs: 20 });
    drain.start();
    await drain.idle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    drain.stop();
    assert.deepEqual(agent.ran, ['m1:prepare'], 'read again at every poll, run once');
    assert.equal(q.pieces.length, 1, 'still queued: the next session reads it, and its recovery decides');
  });
});
