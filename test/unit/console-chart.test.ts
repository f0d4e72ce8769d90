/** The web console's state chart, seeded from the states machines' recent events entered (console/src/chart-samples.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seedSamples, WINDOW_MS } from '../../console/src/chart-samples.ts';
import type { WatchedMachine } from '../../console/src/types.ts';

const NOW = 10_000_000;
const machine = (id: string, history: Array<[string, number]>): WatchedMachine => ({
  id, name: id, state: history[0]?.[0] ?? 'started', region: 'local', host_id: null, cordoned: false, image: 'x', process_group: null, release: null,
  updated_at: '', created_at: '', history: history.map(([state, minutesAgo]) => ({ state, at: NOW - minutesAgo * 60_000 })),
});

describe('the console\'s state chart', () => {
  it('counts each machine in the state its latest event by then entered, over the last half hour', () => {
    const samples = seedSamples([
      machine('a', [['suspended', 5], ['started', 20], ['created', 40]]),
      machine('b', [['started', 10]]),
    ], NOW);
    assert.equal(samples[0]?.at, NOW - WINDOW_MS);
    const at = (minutesAgo: number) => samples.find((sample) => sample.at >= NOW - minutesAgo * 60_000)?.counts;
    assert.deepEqual(at(30), { created: 1 }, 'b is not known yet');
    assert.deepEqual(at(15), { started: 1 });
    assert.deepEqual(at(7), { started: 2 });
    assert.deepEqual(at(1), { started: 1, suspended: 1 });
  });

  it('leaves out destroyed machines and times when no machine is known', () => {
    const samples = seedSamples([machine('a', [['destroyed', 2], ['started', 10]])], NOW);
    assert.ok(samples.every((sample) => sample.at >= NOW - 10 * 60_000 && sample.at < NOW - 2 * 60_000));
    assert.ok(samples.length > 0);
  });
});
