/**
 * What a host agent's health monitor hands on to be recorded for the replicas:
 * only its own machines' results, each time one changes status or output, and []
 * once a machine has no checks running; and the publisher that writes them, which
 * keeps only the latest of each machine, tries again while the database is out of
 * reach, and drops what the database refuses.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { CheckPublisher } from '../../src/cluster/check-publisher.ts';
import type { CheckReport } from '../../src/domain/ports.ts';
import { HealthMonitor } from '../../src/proxy/health-monitor.ts';
import { MachineTable } from '../../src/proxy/machine-table.ts';
import { machine } from '../helpers/store-fixtures.ts';

const log = pino({ level: 'silent' });
const clock = { now: () => Date.now() };

async function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('a host agent\'s health monitor', () => {
  it('hands on its own machines\' results as they change, and [] when their checks end', async () => {
    const checks = { alive: { type: 'tcp', port: 8080, interval: '1s', timeout: '1s' } };
    const ours = machine({ id: 'm-ours', state: 'started', hostId: 'here' }, { checks });
    const theirs = machine({ id: 'm-theirs', state: 'started', hostId: 'there' }, { checks });
    const { server, port } = await listening();
    const table = new MachineTable(clock);
    const heard: Array<[string, string[]]> = [];
    const monitor = new HealthMonitor(table, () => ({ host: '127.0.0.1', port }), clock, log, {
      only: (m) => m.hostId === 'here',
      onResults: (id, results) => heard.push([id, results.map((r) => `${r.name}:${r.status}`)]),
    });
    try {
      monitor.start();
      table.put(ours);
      table.put(theirs);
      for (let i = 0; i < 100 && !heard.some(([, r]) => r[0] === 'alive:passing'); i++) await sleep(20);
      await sleep(1_300);
      assert.deepEqual(heard, [['m-ours', ['alive:warning']], ['m-ours', ['alive:passing']]], 'told once as it starts and once as it passes; a run with the same result is not told');
      assert.deepEqual([...(await monitor.checksOf(['m-ours', 'm-theirs'])).keys()], ['m-ours']);

      table.put({ ...ours, state: 'stopped', rev: ours.rev + 1 });
      assert.deepEqual(heard.at(-1), ['m-ours', []]);
      const told = heard.length;
      monitor.stop();
      assert.equal(heard.length, told, 'a monitor that stops tells nothing: what was recorded stays for the next');
    } finally {
      monitor.stop();
      server.close();
    }
  });
});

describe('the check publisher', () => {
  const report = (status: string): CheckReport => ({ name: 'alive', status, output: status, updatedAt: 1 });

  it('writes the latest results of each machine, trying again while the database is out of reach', async () => {
    const written: Array<[string, string[]]> = [];
    let down = true;
    const publisher = new CheckPublisher({
      putChecks: async (id, checks) => {
        if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        written.push([id, checks.map((c) => c.status)]);
      },
    }, log);
    publisher.publish('m-1', [report('warning')]);
    await sleep(50);
    publisher.publish('m-1', [report('passing')]);
    publisher.publish('m-2', []);
    down = false;
    await publisher.idle();
    assert.deepEqual(written, [['m-1', ['passing']], ['m-2', []]], 'the superseded results were never written');
    await publisher.close();
  });

  it('drops results the database refuses, and goes on with the others', async () => {
    const written: string[] = [];
    const publisher = new CheckPublisher({
      putChecks: async (id) => {
        if (id === 'm-gone') throw Object.assign(new Error('violates foreign key constraint'), { code: '23503' });
        written.push(id);
      },
    }, log);
    publisher.publish('m-gone', [report('passing')]);
    publisher.publish('m-1', [report('passing')]);
    await publisher.idle();
    assert.deepEqual(written, ['m-1']);
    await publisher.close();
  });
});
