import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { targetOf } from '../../src/domain/lifecycle/actions.ts';
import { HangarError } from '../../src/domain/errors.ts';
import {
  ACTIONS, ALL_STATES, canTransition, isTransient, PERSISTENT_STATES, TERMINAL_STATES, TRANSIENT_STATES, TRANSITIONS,
} from '../../src/domain/states.ts';
import { machineRecord } from './fixtures.ts';

describe('state table', () => {
  it('names every state of machine-states.txt', () => {
    assert.deepEqual([...PERSISTENT_STATES], ['created', 'started', 'stopped', 'suspended', 'failed']);
    assert.deepEqual([...TRANSIENT_STATES].sort(), ['creating', 'destroying', 'launch_failed', 'replacing', 'restarting', 'starting', 'stopping', 'suspending', 'updating']);
    assert.deepEqual([...TERMINAL_STATES], ['destroyed', 'replaced', 'migrated']);
  });

  it('lets every user action lead only to a state the transition table allows', () => {
    for (const from of ALL_STATES) {
      for (const [action, to] of Object.entries(ACTIONS[from])) {
        assert.ok(canTransition(from, to as never), `${action}: ${from} -> ${to} is not in TRANSITIONS`);
      }
    }
  });

  it('has no way out of a terminal state', () => {
    for (const state of TERMINAL_STATES) {
      assert.deepEqual(TRANSITIONS[state], []);
      assert.deepEqual(ACTIONS[state], {});
    }
  });

  it('reaches destroyed from every non-terminal state', () => {
    for (const state of ALL_STATES.filter((s) => !(TERMINAL_STATES as readonly string[]).includes(s))) {
      const seen = new Set([state]);
      const queue = [state];
      while (queue.length) {
        for (const next of TRANSITIONS[queue.shift()!]) if (!seen.has(next)) { seen.add(next); queue.push(next); }
      }
      assert.ok(seen.has('destroyed'), `destroyed unreachable from ${state}`);
    }
  });

  it('classifies transient states', () => {
    assert.equal(isTransient('starting'), true);
    assert.equal(isTransient('started'), false);
    assert.equal(isTransient('destroyed'), false);
  });

  it('refuses an illegal action with an error naming the current state', () => {
    const machine = machineRecord({ state: 'stopped' });
    assert.throws(() => targetOf(machine, 'suspend'), (error: unknown) => {
      assert.ok(error instanceof HangarError);
      assert.equal(error.code, 'invalid_state');
      assert.match(error.message, /machine is stopped/);
      assert.match(error.hint ?? '', /start, update, destroy/);
      return true;
    });
    assert.equal(targetOf(machine, 'start'), 'starting');
    assert.equal(targetOf(machineRecord({ state: 'suspended' }), 'stop'), 'stopped');
  });
});
