/** Autostop as a cluster decides it: per (app, region), min_machines_running in the primary region, every host's traffic counted. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { MachineConfig } from '../../src/domain/config.ts';
import type { ProxyMachine } from '../../src/domain/ports.ts';
import { autostopPass } from '../../src/proxy/autostop-loop.ts';
import { LoadTracker } from '../../src/proxy/load-tracker.ts';
import { MachineTable } from '../../src/proxy/machine-table.ts';
import { primaryRegion } from '../../src/proxy/table/autostop.ts';
import type { Waker } from '../../src/proxy/waker.ts';

const IDLE_MS = 1_000;
const service = { protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostop: 'stop', autostart: true, min_machines_running: 1 };
const config = (env?: Record<string, string>) => ({ image: 'x', guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, init: {}, services: [service], env }) as unknown as MachineConfig;
const machine = (id: string, region: string, createdAt: number, hostId = 'h1', env?: Record<string, string>): ProxyMachine => ({
  id, appName: 'web', region, hostId, state: 'started', cordoned: false, config: config(env), privateIp: 'fdaa::1', createdAt, version: 'v1',
});

function rig(machines: ProxyMachine[]) {
  const clock = { now: () => 0 };
  const table = new MachineTable(clock);
  for (const m of machines) table.put(m);
  const loads = new LoadTracker(clock);
  const retired: string[] = [];
  const actions = {
    start: async () => ({ previousState: 'stopped' as const }),
    stop: async (_app: string, id: string) => { retired.push(id); },
    suspend: async (_app: string, id: string) => { retired.push(id); },
  };
  clock.now = () => 10 * IDLE_MS;
  const pass = (leads?: (group: readonly ProxyMachine[]) => boolean) => autostopPass({
    table, loads, waker: { isWaking: () => false } as unknown as Waker, actions, clock, log: pino({ level: 'silent' }), idleMs: IDLE_MS, suspendMaxMemoryMb: 2048,
    ...(leads ? { leads } : {}),
  });
  return { table, loads, retired, pass };
}

describe('autostop across a cluster', () => {
  it('names the primary region from PRIMARY_REGION, else the oldest machine\'s region', () => {
    assert.equal(primaryRegion([machine('b', 'syd', 2), machine('a', 'fra', 1)]), 'fra');
    assert.equal(primaryRegion([machine('b', 'syd', 2, 'h1', { PRIMARY_REGION: 'ams' }), machine('a', 'fra', 1)]), 'ams');
    assert.equal(primaryRegion([]), undefined);
  });

  it('decides per region, keeping min_machines_running in the primary region only', async () => {
    const r = rig([machine('f1', 'fra', 1, 'h1', { PRIMARY_REGION: 'fra' }), machine('f2', 'fra', 2), machine('s1', 'syd', 3), machine('s2', 'syd', 4)]);
    await r.pass();
    assert.deepEqual(r.retired.sort(), ['f1', 's1', 's2'], 'one machine stays in fra, none need to in syd');
  });

  it('retires only the groups this proxy leads', async () => {
    const r = rig([machine('f1', 'fra', 1, 'h1'), machine('s1', 'syd', 2, 'h2')]);
    await r.pass((group) => group.map((m) => m.hostId).sort()[0] === 'h2');
    assert.deepEqual(r.retired, ['s1']);
  });

  it('counts the traffic other hosts\' proxies had: a machine busy or recently served through another host stays', async () => {
    const r = rig([machine('s1', 'syd', 1), machine('s2', 'syd', 2), machine('s3', 'syd', 3)]);
    r.loads.setRemote(new Map([['s1', { inFlight: 1, lastActive: 0 }], ['s2', { inFlight: 0, lastActive: 10 * IDLE_MS - 10 }]]));
    assert.equal(r.loads.load('s1'), 1);
    await r.pass();
    assert.deepEqual(r.retired, ['s3']);
  });
});
