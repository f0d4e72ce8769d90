import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { JournaledSink } from '../../src/cluster/observation-journal.ts';
import { reportRefused } from '../../src/cluster/unreachable.ts';
import type { Observation } from '../../src/domain/lifecycle/observations.ts';
import { HangarError } from '../../src/domain/errors.ts';

const log = pino({ level: 'silent' });
const exit = (exitCode: number): Observation => ({ kind: 'exited', exitCode, oomKilled: false, requested: false });

/** A database that is down until `up` is set. */
function database() {
  const seen: Array<[string, number]> = [];
  const state = { up: false };
  return {
    state, seen,
    sink: {
      async observe(machineId: string, observation: Observation) {
        if (!state.up) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        if (machineId === 'gone') throw new HangarError('not_found', 'machine not found: gone');
        seen.push([machineId, (observation as { exitCode: number }).exitCode]);
      },
    },
  };
}

describe('the observation journal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-journal-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps what happened while the database is down, across a restart, and reports it in order once it is back', async () => {
    const path = join(dir, 'observations.journal');
    const db = database();
    const first = new JournaledSink(db.sink, path, log, reportRefused);
    await first.observe('m1', exit(1));
    db.state.up = true;
    // Queued behind the journal even though the database answers again: order is kept.
    await first.observe('m2', exit(2));
    await first.observe('m1', exit(3));
    first.close();
    assert.deepEqual(db.seen, []);
    assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 3);

    const restarted = new JournaledSink(db.sink, path, log, reportRefused);
    assert.equal(restarted.pending(), 3);
    await restarted.flush();
    restarted.close();
    assert.deepEqual(db.seen, [['m1', 1], ['m2', 2], ['m1', 3]]);
    assert.equal(existsSync(path), false, 'an empty journal leaves no file');
  });

  it('passes through what the database refuses, and drops such an entry when replaying', async () => {
    const path = join(dir, 'refused.journal');
    const db = database();
    const sink = new JournaledSink(db.sink, path, log, reportRefused);
    await sink.observe('gone', exit(1));
    await sink.observe('m1', exit(2));
    db.state.up = true;
    await sink.flush();
    assert.deepEqual(db.seen, [['m1', 2]]);
    await assert.rejects(sink.observe('gone', exit(3)), /machine not found/);
    sink.close();
  });

  it('journals on every database error but a refusal: read-only, serialization, a cancelled statement, a name not found', async () => {
    for (const error of [
      Object.assign(new Error('cannot execute UPDATE in a read-only transaction'), { code: '25006' }),
      Object.assign(new Error('could not serialize access'), { code: '40001' }),
      Object.assign(new Error('deadlock detected'), { code: '40P01' }),
      Object.assign(new Error('could not obtain lock'), { code: '55P03' }),
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      Object.assign(new Error('getaddrinfo ENOTFOUND db.internal'), { code: 'ENOTFOUND' }),
      new Error('Query read timeout'),
    ]) {
      const path = join(dir, `${String((error as { code?: string }).code ?? 'timeout')}.journal`);
      const seen: string[] = [];
      let failing = true;
      const sink = new JournaledSink({
        async observe(machineId) {
          if (failing) throw error;
          seen.push(machineId);
        },
      }, path, log, reportRefused);
      await sink.observe('m1', exit(1));
      assert.equal(sink.pending(), 1, `kept after: ${error.message}`);
      failing = false;
      await sink.flush();
      sink.close();
      assert.deepEqual(seen, ['m1']);
    }
  });

  it('keeps an entry written after a torn one, and does not report again what was reported before a crash', async () => {
    const path = join(dir, 'torn.journal');
    const db = database();
    writeFileSync(path, `${JSON.stringify({ machineId: 'm1', observation: exit(1) })}\n{"machineId":"m2","obser`);
    const sink = new JournaledSink(db.sink, path, log, reportRefused);
    await sink.observe('m3', exit(3));
    assert.equal(new JournaledSink(db.sink, path, log, reportRefused).pending(), 2, 'the new entry is not glued to the torn line');

    // The database takes the first entry, then the agent dies before the second.
    db.state.up = true;
    let reports = 0;
    const dying = { observe: async (machineId: string, observation: Observation) => {
      if (++reports > 1) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      await db.sink.observe(machineId, observation);
    } };
    const crashed = new JournaledSink(dying, path, log, reportRefused);
    await crashed.flush();
    crashed.close();
    const restarted = new JournaledSink(db.sink, path, log, reportRefused);
    await restarted.flush();
    assert.deepEqual(db.seen, [['m1', 1], ['m3', 3]], 'each reported once, in order');
    assert.equal(existsSync(path), false);
  });
});
