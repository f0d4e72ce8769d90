import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SyncedClock } from '../../src/system/synced-clock.ts';

describe('a clock that follows the database\'s', () => {
  it('keeps the other clock\'s time, within half a round trip, whatever this process\'s says', async () => {
    const ahead = 90_000;
    // The remote reading is taken halfway through a 40 ms round trip.
    const clock = new SyncedClock(async () => {
      await sleep(20);
      const remote = Date.now() + ahead + 0.25;
      await sleep(20);
      return remote;
    });
    await clock.start(() => undefined);
    clock.stop();
    assert.ok(Math.abs(clock.offsetMs - ahead) < 25, `offset ${clock.offsetMs}`);
    assert.ok(Math.abs(clock.now() - (Date.now() + ahead)) < 25);
    assert.ok(Number.isInteger(clock.now()), 'whole milliseconds, as every clock of hangar\'s');
  });

  it('does not start without a first reading', async () => {
    const clock = new SyncedClock(async () => { throw new Error('connect ECONNREFUSED'); });
    await assert.rejects(clock.start(() => undefined), /ECONNREFUSED/);
  });
});
