import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { JournaledSink } from '../../src/cluster/observation-journal.ts';
import { databaseUnreachable } from '../../src/cluster/unreachable.ts';
import type { Observation } from '../../src/domain/lifecycle/observations.ts';

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
        if (machineId === 'gone') throw new Error('machine not found: gone');
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
    const first = new JournaledSink(db.sink, path, log, databaseUnreachable);
    await first.observe('m1', exit(1));
    db.state.up = true;
    // Queued behind the journal even though the database answers again: order is kept.
    await first.observe('m2', exit(2));
    await first.observe('m1', exit(3));
    first.close();
    assert.deepEqual(db.seen, []);
    assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 3);

    const restarted = new JournaledSink(db.sink, path, log, databaseUnreachable);
    assert.equal(restarted.pending(), 3);
    await restarted.flush();
    restarted.close();
    assert.deepEqual(db.seen, [['m1', 1], ['m2', 2], ['m1', 3]]);
    assert.equal(existsSync(path), false, 'an empty journal leaves no file');
  });

  it('passes through what the database refuses, and drops such an entry when replaying', async () => {
    const path = join(dir, 'refused.journal');
    const db = database();
    const sink = new JournaledSink(db.sink, path, log, databaseUnreachable);
    await sink.observe('gone', exit(1));
    await sink.observe('m1', exit(2));
    db.state.up = true;
    await sink.flush();
    assert.deepEqual(db.seen, [['m1', 2]]);
    await assert.rejects(sink.observe('gone', exit(3)), /machine not found/);
    sink.close();
  });
});
