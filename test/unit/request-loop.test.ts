import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { serveRequests } from '../../src/cluster/request-loop.ts';
import type { MachineRequest } from '../../src/domain/ports.ts';

describe('machine requests, taken by their host', () => {
  it('takes them at start, on each hint and on its poll, acts on each once, and carries on past a failure', async () => {
    const queued: MachineRequest[] = [{ machineId: 'm1', appName: 'web', action: 'start' }];
    let down = false;
    const acted: string[] = [];
    let kick = () => undefined as void;
    const stop = serveRequests({
      hostId: 'h1', log: pino({ level: 'silent' }), pollMs: 60_000,
      requests: {
        ask: async () => undefined,
        take: async (hostId) => {
          assert.equal(hostId, 'h1');
          if (down) throw new Error('database away');
          return queued.splice(0);
        },
      },
      hints: (hint) => {
        kick = hint;
        return () => { kick = () => undefined; };
      },
      act: async (request) => {
        acted.push(`${request.action} ${request.machineId}`);
        if (request.machineId === 'm2') throw new Error('cannot');
      },
    });
    await sleep(10);
    assert.deepEqual(acted, ['start m1']);
    queued.push({ machineId: 'm2', appName: 'web', action: 'stop' }, { machineId: 'm3', appName: 'web', action: 'suspend' });
    kick();
    await sleep(10);
    assert.deepEqual(acted, ['start m1', 'stop m2', 'suspend m3']);
    down = true;
    kick();
    await sleep(10);
    down = false;
    queued.push({ machineId: 'm4', appName: 'web', action: 'start' });
    kick();
    await sleep(10);
    assert.deepEqual(acted.at(-1), 'start m4', 'read again after the database came back');
    await stop();
    queued.push({ machineId: 'm5', appName: 'web', action: 'start' });
    kick();
    await sleep(10);
    assert.equal(acted.includes('start m5'), false, 'stopped: nothing taken');
  });
});
