/** A cluster host's proxy shares its traffic: it writes what changed of its own, and adds the others' to its loads. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { MachineActivity } from '../../src/domain/ports.ts';
import { LoadTracker } from '../../src/proxy/load-tracker.ts';
import { shareLoads } from '../../src/proxy/shared-loads.ts';

describe('shared loads', () => {
  it('writes only what changed of its own traffic, and counts the other hosts\' toward limits and idleness', async () => {
    let now = 1_000;
    let roomMade = 0;
    const loads = new LoadTracker({ now: () => now }, () => { roomMade++; });
    const written: MachineActivity[][] = [];
    let others: MachineActivity[] = [{ machineId: 'm1', inFlight: 2, lastActive: 5_000 }];
    let down = false;
    const stop = shareLoads({
      hostId: 'h1', loads, log: pino({ level: 'silent' }), everyMs: 10,
      activity: {
        publish: async (hostId, changed) => {
          assert.equal(hostId, 'h1');
          if (down) throw new Error('database away');
          if (changed.length > 0) written.push([...changed]);
        },
        others: async () => others,
      },
    });
    try {
      const release = loads.acquire('m1');
      await sleep(40);
      assert.deepEqual(written, [[{ machineId: 'm1', inFlight: 1, lastActive: 1_000 }]], 'once, though several rounds went by');
      assert.equal(loads.load('m1'), 3, 'its own request and the other hosts\' two');
      assert.equal(loads.local('m1'), 1);
      assert.equal(loads.lastActive('m1'), 5_000, 'the latest activity through any host');
      assert.ok(roomMade > 0, 'requests waiting for room look again at each read');

      now = 2_000;
      release();
      others = [];
      down = true;
      await sleep(40);
      assert.equal(loads.load('m1'), 2, 'the database away: the others\' last known loads stay');
      down = false;
      await sleep(40);
      assert.deepEqual(written.at(-1), [{ machineId: 'm1', inFlight: 0, lastActive: 2_000 }], 'what it could not write is written once it can');
      assert.equal(loads.load('m1'), 0);
    } finally {
      await stop();
    }
  });
});
