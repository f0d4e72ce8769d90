/**
 * The proxy's router over a machine table that learns of changes late, as a
 * cluster host's does from the directory: a request that finds a machine
 * passing between states waits for it to settle, then routes again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MachineConfig } from '../../src/domain/config.ts';
import type { MachineState } from '../../src/domain/states.ts';
import type { HealthMonitor } from '../../src/proxy/health-monitor.ts';
import { LoadTracker } from '../../src/proxy/load-tracker.ts';
import { MachineTable } from '../../src/proxy/machine-table.ts';
import { type ProxyMachine, ProxyError } from '../../src/proxy/ports.ts';
import { Router, SandboxGone } from '../../src/proxy/router.ts';
import type { Waker } from '../../src/proxy/waker.ts';

const config = { image: 'x', guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, init: {},
  services: [{ protocol: 'tcp', internal_port: 8080, autostart: true, ports: [{ port: 80, handlers: ['http'] }] }] } as unknown as MachineConfig;
const machine = (state: MachineState, rev: number): ProxyMachine => ({
  id: 'm1', appName: 'web', region: 'fra', privateIp: 'fdaa::2', state, rev, cordoned: false, createdAt: 0, version: 'v1', config,
});

/** A router over `table` whose wakes are recorded in `woken`; `sandboxLagMs` as in a cluster (none: one host). */
function router(table: MachineTable, woken: string[], sandboxLagMs?: number): Router {
  const waker = {
    isWaking: () => false,
    pending: () => undefined,
    wake: async (target: ProxyMachine) => {
      woken.push(`${target.id} from ${target.state}`);
    },
  } as unknown as Waker;
  return new Router({
    table, waker, loads: new LoadTracker({ now: () => 0 }), health: { healthy: () => true } as unknown as HealthMonitor,
    upstreams: () => ({ host: '127.0.0.1', port: 1 }), queueTimeoutMs: 2_000, sandboxLagMs,
  });
}

describe('proxy router', () => {
  it('holds a request while the only machine is stopping, and wakes it once the stop is seen', async () => {
    const table = new MachineTable({ now: () => 0 });
    table.put(machine('stopping', 2));
    const woken: string[] = [];
    const routed = router(table, woken).route('web', 80, true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(woken, [], 'nothing is woken while the stop is under way');
    table.put(machine('stopped', 3));
    const { machine: chosen, release } = await routed;
    release();
    assert.equal(chosen.id, 'm1');
    assert.deepEqual(woken, ['m1 from stopped']);
  });

  it('answers 503 when the machine does not settle before the queue timeout', async () => {
    const table = new MachineTable({ now: () => 0 });
    table.put(machine('stopping', 2));
    const began = Date.now();
    await assert.rejects(router(table, []).route('web', 80, true), (error: unknown) => error instanceof ProxyError && error.status === 503 && /settled/.test(error.message));
    assert.ok(Date.now() - began >= 1_900, 'it waited for the queue timeout');
  });
});

describe('proxy router: E2B sandboxes behind a table that lags', () => {
  const sandbox = (state: MachineState, rev: number, metadata: Record<string, string>): ProxyMachine =>
    ({ ...machine(state, rev), id: '5b1d0c0ffee001', appName: 'e2b-personal', config: { ...config, metadata } as MachineConfig });
  const made = { 'e2b.template': 'warm', 'e2b.auto_resume': 'false' };

  it('routes to a fork once the table sees it made a sandbox, though it first saw it as a fork under way', async () => {
    const table = new MachineTable({ now: () => 0 });
    table.put(sandbox('started', 1, { 'e2b.forking': 'warm' }));
    const routed = router(table, [], 2_000).routeSandbox('5b1d0c0ffee001', 49983);
    setTimeout(() => table.put(sandbox('started', 2, made)), 50);
    const chosen = await routed;
    chosen?.release();
    assert.equal(chosen?.machine.id, '5b1d0c0ffee001');
  });

  it('routes to a sandbox the table has not seen yet, and to a resumed one it still sees paused', async () => {
    const table = new MachineTable({ now: () => 0 });
    const lagging = router(table, [], 2_000);
    const unseen = lagging.routeSandbox('5b1d0c0ffee001', 49983);
    setTimeout(() => table.put(sandbox('started', 1, made)), 50);
    (await unseen)?.release();
    table.put(sandbox('suspended', 2, made));
    const paused = lagging.routeSandbox('5b1d0c0ffee001', 49983);
    setTimeout(() => table.put(sandbox('started', 3, made)), 50);
    const chosen = await paused;
    chosen?.release();
    assert.equal(chosen?.machine.state, 'started');
  });

  it('answers a sandbox that stays paused as gone, and an id that stays unknown as no sandbox, once the lag is over', async () => {
    const table = new MachineTable({ now: () => 0 });
    table.put(sandbox('suspended', 1, made));
    const lagging = router(table, [], 300);
    const began = Date.now();
    await assert.rejects(lagging.routeSandbox('5b1d0c0ffee001', 49983), SandboxGone);
    assert.equal(await lagging.routeSandbox('00000000000bad', 49983), undefined);
    assert.ok(Date.now() - began >= 550, 'each waited for the lag');
    const atOnce = Date.now();
    assert.equal(await lagging.routeSandbox('nosuchsandbox', 49983), undefined);
    assert.ok(Date.now() - atOnce < 100, 'an id no machine can have is not waited for');
  });

  it('answers at once on one host, where the table is the store\'s own', async () => {
    const table = new MachineTable({ now: () => 0 });
    table.put(sandbox('suspended', 1, made));
    const lagging = router(table, [], 0);
    const began = Date.now();
    await assert.rejects(lagging.routeSandbox('5b1d0c0ffee001', 49983), SandboxGone);
    assert.equal(await lagging.routeSandbox('nosuchsandbox', 49983), undefined);
    assert.ok(Date.now() - began < 100);
  });
});
