/**
 * A host session keeps writing its heartbeat while it recovers: a recovery longer
 * than --host-lost-after must not get the host declared lost. And a serve that
 * finishes after the host was lost meanwhile ends what it started at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { HostSession } from '../../src/cluster/host-session.ts';
import type { HostRecord } from '../../src/domain/host.ts';

const identity = { id: 'h1', region: 'fra', address: '', hostNumber: 1, cpus: null, memoryMb: null, diskBytes: 0, anyRegion: false } as never;

function fakeStore() {
  let epoch = 0;
  const beats: number[] = [];
  let refuse = false;
  return {
    beats,
    refuseNext() { refuse = true; },
    async registerHost(): Promise<HostRecord> {
      epoch++;
      return { id: 'h1', epoch } as HostRecord;
    },
    async heartbeatHost(_id: string, at: number): Promise<boolean> {
      if (refuse) {
        refuse = false;
        return false;
      }
      beats.push(at);
      return true;
    },
  };
}

describe('a host session', () => {
  it('writes its heartbeat while the first recovery runs, and while one after a registration again runs', async () => {
    const store = fakeStore();
    const served: number[] = [];
    const session = new HostSession({
      store, identity, takeOver: false, heartbeatMs: 20, freshMs: 1000, log: pino({ level: 'silent' }),
      async serve(host) {
        served.push(host.epoch);
        await sleep(300);
        return async () => undefined;
      },
      onTakenOver: async () => undefined,
    });
    await session.start();
    assert.ok(store.beats.filter((epoch) => epoch === 1).length >= 5, `heartbeats during the first recovery: ${store.beats.length}`);
    assert.equal(session.serving, true);

    store.refuseNext();
    for (let i = 0; i < 50 && served.length < 2; i++) await sleep(20);
    assert.deepEqual(served, [1, 2], 'registered again, and recovering');
    const before = store.beats.filter((epoch) => epoch === 2).length;
    await sleep(150);
    assert.equal(session.serving, false, 'still recovering');
    assert.ok(store.beats.filter((epoch) => epoch === 2).length >= before + 3, 'the heartbeat goes on meanwhile');
    for (let i = 0; i < 50 && !session.serving; i++) await sleep(20);
    assert.equal(session.serving, true);
    await session.stop();
  });

  it('ends at once what a serve started when the host was lost while it ran, and serves the next registration', async () => {
    const store = fakeStore();
    const ended: number[] = [];
    const session = new HostSession({
      store, identity, takeOver: false, heartbeatMs: 20, freshMs: 1000, log: pino({ level: 'silent' }),
      async serve(host) {
        await sleep(host.epoch === 1 ? 10 : 200);
        return async () => { ended.push(host.epoch); };
      },
      onTakenOver: async () => undefined,
    });
    await session.start();
    store.refuseNext();
    for (let i = 0; i < 50 && session.record?.epoch !== 2; i++) await sleep(10);
    assert.deepEqual(ended, [1], 'the first serve ended when its heartbeat was refused');
    store.refuseNext();
    for (let i = 0; i < 100 && !session.serving; i++) await sleep(20);
    assert.deepEqual(ended, [1, 2], 'the serve of epoch 2, lost while it ran, ended what it started');
    assert.equal(session.record?.epoch, 3);
    await session.stop();
    assert.deepEqual(ended, [1, 2, 3]);
  });
});
