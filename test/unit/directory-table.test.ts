import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { DirectoryTable } from '../../src/cluster/directory-table.ts';
import type { DirectoryMachine, MachineDirectory } from '../../src/domain/ports.ts';
import type { ClusterLink } from '../../src/store/link.ts';

const machine = (id: string, state: string, hostId = 'h2'): DirectoryMachine =>
  ({ id, appName: 'web', region: 'syd', hostId, privateIp: `fdaa:0:1:2:0:${id.length}:0:2`, state, skipRegistration: false });

/** A directory whose changes are a list in commit order; the horizon is how many there are. */
function fakeDirectory(whole: DirectoryMachine[]) {
  const log: DirectoryMachine[] = [];
  const reads = { count: 0 };
  const directory: MachineDirectory = {
    horizon: async () => String(log.length),
    since: async (from) => {
      reads.count++;
      return from === undefined
        ? { items: whole, horizon: String(log.length) }
        : { items: log.slice(Number(from)), horizon: String(log.length) };
    },
    apps: async () => [{ name: 'web', orgSlug: 'personal' }],
    lostHosts: async () => [],
  };
  return { directory, reads, commit: (m: DirectoryMachine) => log.push(m) };
}

describe('every host\'s machines, as a cluster host\'s DNS sees them', () => {
  it('reads them whole, then follows each announced change, dropping the destroyed', async () => {
    const { directory, commit } = fakeDirectory([machine('m1', 'started'), machine('m2', 'stopped', 'h1')]);
    const announced: Array<() => void> = [];
    const link = { onMachineChanged: (listener: () => void) => announced.push(listener), onMissedChanges: () => undefined, onHostChanged: () => undefined } as unknown as ClusterLink;
    const table = await DirectoryTable.start(directory, link, pino({ level: 'silent' }));
    const heard: string[] = [];
    table.onChange((m) => heard.push(`${m.id}:${m.state}`));
    try {
      assert.deepEqual(table.all().map((m) => m.id), ['m1', 'm2']);
      commit(machine('m3', 'started'));
      commit(machine('m1', 'destroyed'));
      for (const listener of announced) listener();
      for (let i = 0; i < 50 && heard.length < 2; i++) await sleep(10);
      assert.deepEqual(heard, ['m3:started', 'm1:destroyed']);
      assert.deepEqual(table.all().map((m) => m.id).sort(), ['m2', 'm3']);
    } finally {
      await table.stop();
    }
  });

  it('reads a burst of announced commits a few times, not once per commit, and misses none', async () => {
    const { directory, reads, commit } = fakeDirectory([]);
    const announced: Array<() => void> = [];
    const link = { onMachineChanged: (listener: () => void) => announced.push(listener), onMissedChanges: () => undefined, onHostChanged: () => undefined } as unknown as ClusterLink;
    const table = await DirectoryTable.start(directory, link, pino({ level: 'silent' }));
    try {
      const before = reads.count;
      // 40 commits, each announced, 5 ms apart: 200 ms in all.
      for (let i = 0; i < 40; i++) {
        commit(machine(`m${i}`, 'started'));
        for (const listener of announced) listener();
        await sleep(5);
      }
      for (let i = 0; i < 50 && table.all().length < 40; i++) await sleep(10);
      assert.equal(table.all().length, 40);
      const taken = reads.count - before;
      assert.ok(taken <= 5, `${taken} reads for 40 commits over 200 ms`);
    } finally {
      await table.stop();
    }
  });
});
