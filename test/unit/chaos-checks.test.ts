/** The chaos test's checks (test/helpers/chaos.ts) catch what they are for, so a passing chaos run means something. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { doubleVms, expectedState, seededRandom, vmsNow } from '../helpers/chaos.ts';
import type { FakeLedgerEntry } from '../../src/vmm/fake/fake-driver.ts';

const line = (at: number, machineId: string, vm: FakeLedgerEntry['vm'], pid = 1): FakeLedgerEntry => ({ at, pid, machineId, vm });

describe('chaos checks', () => {
  it('finds a machine with VMs on two hosts at once, counting a killed process\'s VMs until a later line ends them', () => {
    const ledgers = new Map([
      // h1's process dies at 15 leaving m1 running; the next process (pid 2) ends it at 40.
      ['h1', [line(10, 'm1', 'running'), line(40, 'm1', 'absent', 2)]],
      ['h2', [line(20, 'm1', 'suspended'), line(30, 'm1', 'absent'), line(50, 'm1', 'running')]],
    ]);
    assert.deepEqual(doubleVms(ledgers), [{ machineId: 'm1', at: 20, hosts: ['h1', 'h2'] }]);
    assert.deepEqual(doubleVms(new Map([['h1', [line(10, 'm1', 'running'), line(20, 'm1', 'absent')]], ['h2', [line(30, 'm1', 'running')]]])), []);
    assert.deepEqual([...vmsNow([line(1, 'a', 'running'), line(2, 'b', 'suspended'), line(3, 'a', 'absent')])], [['b', 'suspended']]);
  });

  it('expects the state of the last acknowledged change, nothing after a change that may have happened, and destroyed for good', () => {
    assert.equal(expectedState([{ kind: 'create', outcome: 'acked' }, { kind: 'stop', outcome: 'acked' }, { kind: 'start', outcome: 'refused' }]), 'stopped');
    assert.equal(expectedState([{ kind: 'create', outcome: 'acked' }, { kind: 'suspend', outcome: 'acked' }, { kind: 'stop', outcome: 'unknown' }]), undefined);
    assert.equal(expectedState([{ kind: 'stop', outcome: 'unknown' }, { kind: 'start', outcome: 'acked' }]), 'started');
    assert.equal(expectedState([{ kind: 'stop', outcome: 'acked', concurrent: true }, { kind: 'start', outcome: 'acked', concurrent: true }]), undefined);
    assert.equal(expectedState([{ kind: 'destroy', outcome: 'acked' }, { kind: 'start', outcome: 'unknown' }]), 'destroyed');
  });

  it('draws the same choices from the same seed, and independent ones per fork', () => {
    const draw = (seed: number, label: string) => Array.from({ length: 5 }, () => seededRandom(seed).fork(label)).map((r) => r.int(1000));
    assert.deepEqual(draw(42, 'a'), draw(42, 'a'));
    const a = seededRandom(42).fork('a');
    const b = seededRandom(42).fork('b');
    assert.notDeepEqual([a.next(), a.next()], [b.next(), b.next()]);
  });
});
