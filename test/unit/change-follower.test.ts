import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { ChangeFollower } from '../../src/cluster/change-follower.ts';
import { MachineFeed } from '../../src/control/machine-feed.ts';
import type { MachineRecord } from '../../src/domain/machine.ts';
import type { ClusterLink } from '../../src/store/link.ts';
import type { ChangeLog } from '../../src/store/store.ts';
import { machine } from '../helpers/store-fixtures.ts';

/** A change log that is a list in commit order (the horizon is its length), counting its reads. */
function fakeChanges() {
  const log: MachineRecord[] = [];
  const reads = { count: 0 };
  const changes: ChangeLog = {
    horizon: async () => String(log.length),
    since: async (from) => {
      reads.count++;
      return { machines: log.slice(Number(from)), horizon: String(log.length) };
    },
  };
  return { changes, reads, commit: (m: MachineRecord) => log.push(m) };
}

describe('a change follower', () => {
  it('reads what another process announces, and not what this process committed and published itself', async () => {
    const { changes, reads, commit } = fakeChanges();
    const announced: Array<(machineId: string, rev: number | undefined) => void> = [];
    const link = { onMachineChanged: (listener: (id: string, rev: number | undefined) => void) => announced.push(listener), onMissedChanges: () => undefined } as unknown as ClusterLink;
    const announce = (m: MachineRecord) => { for (const listener of announced) listener(m.id, m.rev); };
    const feed = new MachineFeed();
    const heard: string[] = [];
    feed.subscribe((m) => heard.push(`${m.id}:${m.rev}`));
    const follower = await ChangeFollower.start(changes, link, feed, pino({ level: 'silent' }));
    try {
      // Another process's commit: read.
      const theirs = machine({ id: 'm-1', rev: 1 });
      commit(theirs);
      announce(theirs);
      for (let i = 0; i < 50 && heard.length === 0; i++) await sleep(10);
      assert.deepEqual(heard, ['m-1:1']);
      assert.equal(reads.count, 1);
      // This process's own commit, published as it landed: its announcement reads nothing.
      const ours = { ...theirs, state: 'started' as const, rev: 2 };
      commit(ours);
      feed.publish(ours);
      announce(ours);
      announce(theirs);
      await sleep(50);
      assert.equal(reads.count, 1, 'no read for revisions the feed has');
      // An announcement without a revision, or of a newer one, is read.
      const later = { ...ours, rev: 3 };
      commit(later);
      announce(later);
      for (let i = 0; i < 50 && !heard.includes('m-1:3'); i++) await sleep(10);
      assert.equal(reads.count, 2);
      assert.deepEqual(heard, ['m-1:1', 'm-1:2', 'm-1:2', 'm-1:3']);
    } finally {
      await follower.stop();
    }
  });

  it('does not pass on a revision older than one the feed already has (a read that began before this process committed)', async () => {
    const feed = new MachineFeed();
    const heard: string[] = [];
    feed.subscribe((m) => heard.push(`${m.id}:${m.rev}`));
    const m = machine({ id: 'm-1', rev: 1 });
    feed.publish({ ...m, rev: 2 });
    feed.publish(m);
    feed.publish({ ...m, rev: 2 });
    feed.publish({ ...m, rev: 3 });
    assert.deepEqual(heard, ['m-1:2', 'm-1:2', 'm-1:3']);
    assert.equal(feed.knows('m-1', 3), true);
    assert.equal(feed.knows('m-1', 4), false);
    // Destroyed, it stays so: a stale read does not bring it back.
    feed.publish({ ...m, rev: 4, state: 'destroyed' });
    feed.publish({ ...m, rev: 3 });
    assert.deepEqual(heard, ['m-1:2', 'm-1:2', 'm-1:3', 'm-1:4']);
  });
});
