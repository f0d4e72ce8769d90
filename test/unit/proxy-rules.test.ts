/** The proxy's pure rules: where a request goes, and which idle machines retire. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseRetirements, type IdleCandidate } from '../../src/proxy/table/autostop.ts';
import { chooseRoute, type RouteCandidate } from '../../src/proxy/table/balance.ts';
import { checkSpecs, statusAfter } from '../../src/proxy/table/checks.ts';
import { onSharedListener, publicPorts, serviceOn } from '../../src/proxy/table/services.ts';
import { firstFree } from '../../src/proxy/public-ports.ts';
import type { MachineConfig } from '../../src/domain/config.ts';

const config = (services: unknown[], checks?: Record<string, unknown>) => ({ image: 'x', guest: { cpus: 1, memory_mb: 256 }, init: {}, services, checks }) as unknown as MachineConfig;
const web = { protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }, { start_port: 9000, end_port: 9002 }], autostart: true, concurrency: { type: 'requests', soft_limit: 2, hard_limit: 3 } };
const binding = serviceOn(config([web]), 80)!;
const candidate = (id: string, extra: Partial<RouteCandidate> = {}): RouteCandidate => ({ id, state: 'started', cordoned: false, healthy: true, load: 0, waking: false, binding, ...extra });

describe('services', () => {
  it('reads the binding of a public port, and a port range goes to the same port inside', () => {
    assert.deepEqual(binding, {
      internalPort: 8080, handlers: ['http'], forceHttps: false, concurrency: { type: 'requests', softLimit: 2, hardLimit: 3 },
      autostart: true, autostop: false, minMachinesRunning: 0,
    });
    assert.equal(serviceOn(config([web]), 9001)?.internalPort, 9001);
    assert.equal(serviceOn(config([web]), 81), undefined);
    assert.deepEqual(publicPorts(config([web])), [80, 9000, 9001, 9002]);
    const defaults = serviceOn(config([{ protocol: 'tcp', internal_port: 1, ports: [{ port: 5 }] }]), 5)!;
    assert.deepEqual(defaults.concurrency, { type: 'connections', softLimit: 20, hardLimit: Infinity });
  });

  it('serves HTTP on 80 and TLS+HTTP on 443 on the shared listeners, and everything else on host ports', () => {
    const shared = (port: number, handlers: string[]) => onSharedListener(serviceOn(config([{ protocol: 'tcp', internal_port: 1, ports: [{ port, handlers }] }]), port)!, port);
    assert.equal(shared(80, ['http']), true);
    assert.equal(shared(443, ['tls', 'http']), true);
    assert.equal(shared(80, []), false, 'raw TCP on port 80');
    assert.equal(shared(80, ['tls', 'http']), false);
    assert.equal(shared(443, ['tls']), false, 'TLS ended, then raw bytes');
    assert.equal(shared(8080, ['http']), false);
  });

  it('gives out the lowest host port nobody holds, and none when the range is spent', () => {
    const range = { host: '127.0.0.1', first: 100, last: 103 };
    assert.equal(firstFree(range, new Set([100, 102]), new Set([101])), 103);
    assert.equal(firstFree(range, new Set([100, 101]), new Set([102, 103])), undefined);
  });
});

describe('chooseRoute', () => {
  it('sends to the least loaded machine under its soft limit', () => {
    assert.deepEqual(chooseRoute([candidate('a', { load: 1 }), candidate('b', { load: 0 })]), { kind: 'forward', id: 'b' });
  });
  it('sends to the nearest machine under its soft limit: its host, then its region, then the rest', () => {
    const remote = candidate('r', { distance: 2 });
    const region = candidate('g', { distance: 1, load: 1 });
    const here = candidate('h', { distance: 0, load: 1 });
    assert.deepEqual(chooseRoute([remote, region, here]), { kind: 'forward', id: 'h' });
    assert.deepEqual(chooseRoute([remote, region, { ...here, load: 2 }]), { kind: 'forward', id: 'g' }, 'the nearest is at its soft limit');
    assert.deepEqual(chooseRoute([remote, { ...region, healthy: false }]), { kind: 'forward', id: 'r' });
    assert.deepEqual(chooseRoute([candidate('a', { load: 2 }), candidate('far', { state: 'suspended', distance: 2 }), candidate('near', { state: 'suspended', distance: 1 })]),
      { kind: 'wake', id: 'near' }, 'of equally quick wakes, the nearer');
  });
  it('takes turns between equally loaded machines', () => {
    const machines = [candidate('a'), candidate('b')];
    assert.notEqual((chooseRoute(machines, 0) as { id: string }).id, (chooseRoute(machines, 1) as { id: string }).id);
  });
  it('skips cordoned and unhealthy machines', () => {
    assert.deepEqual(chooseRoute([candidate('a', { cordoned: true }), candidate('b', { healthy: false }), candidate('c', { load: 1 })]), { kind: 'forward', id: 'c' });
    assert.deepEqual(chooseRoute([candidate('a', { cordoned: true })]), { kind: 'unavailable', reason: 'every machine serving this port is cordoned' });
    assert.equal(chooseRoute([candidate('b', { healthy: false })]).kind, 'unavailable');
  });
  it('wakes a sleeping machine, suspended before stopped, when every running one is at its soft limit', () => {
    const full = candidate('a', { load: 2 });
    assert.deepEqual(chooseRoute([full, candidate('s', { state: 'stopped' }), candidate('z', { state: 'suspended' })]), { kind: 'wake', id: 'z' });
    assert.deepEqual(chooseRoute([full, candidate('w', { state: 'stopped', waking: true, load: 1 })]), { kind: 'join', id: 'w' });
  });
  it('uses machines over the soft limit only when nothing can be woken, never over the hard limit', () => {
    assert.deepEqual(chooseRoute([candidate('a', { load: 2 }), candidate('s', { state: 'stopped', binding: { ...binding, autostart: false } })]), { kind: 'forward', id: 'a' });
    assert.deepEqual(chooseRoute([candidate('a', { load: 3 })]), { kind: 'wait' });
  });
  it('waits for a machine passing to a state that can serve: a stop to end (with autostart), a restart or a replacement', () => {
    assert.deepEqual(chooseRoute([candidate('s', { state: 'stopping' })]), { kind: 'settle' });
    assert.deepEqual(chooseRoute([candidate('r', { state: 'restarting', binding: { ...binding, autostart: false } })]), { kind: 'settle' });
    assert.deepEqual(chooseRoute([candidate('s', { state: 'stopping' }), candidate('z', { state: 'suspended' })]), { kind: 'wake', id: 'z' }, 'what can serve now goes first');
    assert.equal(chooseRoute([candidate('s', { state: 'stopping', binding: { ...binding, autostart: false } })]).kind, 'unavailable', 'a stop without autostart ends where nothing serves');
    assert.equal(chooseRoute([candidate('s', { state: 'stopping', cordoned: true })]).kind, 'unavailable');
    assert.equal(chooseRoute([candidate('d', { state: 'destroying' })]).kind, 'unavailable');
  });
  it('says why nothing can serve', () => {
    assert.deepEqual(chooseRoute([]), { kind: 'unavailable', reason: 'no machine of the app serves this port' });
    assert.match((chooseRoute([candidate('s', { state: 'stopped', binding: { ...binding, autostart: false } })]) as { reason: string }).reason, /autostart is off/);
  });
});

describe('chooseRetirements', () => {
  const idle = (id: string, extra: Partial<IdleCandidate> = {}): IdleCandidate => ({
    id, load: 0, softLimit: 20, lastActive: 0, autostop: 'suspend', minMachinesRunning: 0, suspendable: true, ...extra,
  });
  it('retires a lone machine only at zero load after the idle period', () => {
    assert.deepEqual(chooseRetirements([idle('a')], 1000, 1000), [{ id: 'a', action: 'suspend' }]);
    assert.deepEqual(chooseRetirements([idle('a')], 999, 1000), []);
    assert.deepEqual(chooseRetirements([idle('a', { load: 1 })], 5000, 1000), []);
  });
  it('applies excess = machines − (machines over soft limit + 1), several per pass', () => {
    const group = [idle('busy', { load: 5, lastActive: 5000 }), idle('b'), idle('c')];
    assert.deepEqual(chooseRetirements(group, 5000, 1000).map((r) => r.id), ['b', 'c']);
    const hot = [idle('busy', { load: 25, lastActive: 5000 }), idle('b'), idle('c')];
    assert.deepEqual(chooseRetirements(hot, 5000, 1000).map((r) => r.id), ['b']);
  });
  it('keeps min_machines_running, stops what cannot suspend, and leaves autostop-off machines alone', () => {
    assert.deepEqual(chooseRetirements([idle('a', { minMachinesRunning: 1 }), idle('b', { minMachinesRunning: 1, lastActive: 10 })], 5000, 1000), [{ id: 'a', action: 'suspend' }]);
    assert.deepEqual(chooseRetirements([idle('a', { suspendable: false })], 5000, 1000), [{ id: 'a', action: 'stop' }]);
    assert.deepEqual(chooseRetirements([idle('a', { autostop: false })], 5000, 1000), []);
  });
});

describe('checks', () => {
  it('reads named and service checks with Fly\'s names and defaults', () => {
    const specs = checkSpecs(config([{ ...web, checks: [{ type: 'http', path: '/up', interval: '1s', headers: [{ name: 'X-A', values: ['1'] }] }] }], { alive: { type: 'tcp', port: 22, grace_period: '5s' } }));
    assert.deepEqual(specs.map((s) => [s.name, s.type, s.port, s.intervalMs, s.timeoutMs, s.gracePeriodMs, s.path, s.headers]), [
      ['alive', 'tcp', 22, 15000, 2000, 5000, '/', {}],
      ['servicecheck-00-http-8080', 'http', 8080, 1000, 2000, 0, '/up', { 'X-A': '1' }],
    ]);
  });
  it('is warning, not critical, while failing within the grace period', () => {
    const [spec] = checkSpecs(config([], { alive: { type: 'tcp', port: 22, grace_period: '5s' } }));
    assert.equal(statusAfter(false, 4999, spec!), 'warning');
    assert.equal(statusAfter(false, 5000, spec!), 'critical');
    assert.equal(statusAfter(true, 0, spec!), 'passing');
  });
  it('takes the defaults for stored durations it cannot read, instead of throwing', () => {
    const [spec] = checkSpecs(config([], { alive: { type: 'tcp', port: 22, interval: 'often', timeout: '', grace_period: 5e9 } }));
    assert.deepEqual([spec?.intervalMs, spec?.timeoutMs, spec?.gracePeriodMs], [15000, 2000, 0]);
  });
});
