/**
 * A host agent draining its work queue: in order, and without what its recovery
 * already finished (work committed before recovery read the machine).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ClusterLink, HostWork } from '../../src/cluster/link.ts';
import { drainWork } from '../../src/cluster/work-loop.ts';
import type { Effect } from '../../src/domain/lifecycle/decision.ts';
import type { HostRuntime, MachineSpec } from '../../src/domain/runtime.ts';

const work = (machineId: string, rev: number, kind: Effect['kind']): HostWork =>
  ({ hostId: 'h1', rev, spec: { machineId } as MachineSpec, effects: [{ kind } as Effect] });

function queue(pieces: HostWork[]): ClusterLink {
  return {
    claim: async (_host, limit) => pieces.splice(0, limit),
    onWork: () => () => undefined,
    announce: async () => undefined,
    onMachineChanged: () => undefined,
    onMissedChanges: () => undefined,
    onHostChanged: () => undefined,
    close: async () => undefined,
  };
}

describe('draining host work', () => {
  it('runs the queue in order, skipping work at or below the revision its recovery read of the machine', async () => {
    const submitted: string[] = [];
    const runtime = { submit: (spec: MachineSpec, effects: Effect[]) => submitted.push(`${spec.machineId}:${effects[0]?.kind}`) } as unknown as HostRuntime;
    const pieces = [work('m1', 4, 'launch'), work('m1', 5, 'stop'), work('m2', 1, 'prepare'), work('m1', 6, 'launch'), work('m3', 2, 'destroy')];
    const stop = drainWork(queue(pieces), { hostId: 'h1', epoch: 1 }, runtime, pino({ level: 'silent' }), { recovered: new Map([['m1', 5], ['m3', 1]]) });
    for (let i = 0; i < 50 && submitted.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 20));
    stop();
    assert.deepEqual(submitted, ['m2:prepare', 'm1:launch', 'm3:destroy']);
  });
});
