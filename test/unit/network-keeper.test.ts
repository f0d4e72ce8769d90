import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkPort } from '../../src/network/host-network.ts';
import { NetworkKeeper } from '../../src/network/keeper.ts';
import { layoutOf, parseIpv4Range } from '../../src/network/layout.ts';
import type { Observed } from '../../src/network/observed.ts';
import { machineLinkSetup, machineLinkTeardown, type Step } from '../../src/network/plan.ts';

const layout = layoutOf('hangar', 0xa7b, parseIpv4Range('172.19.0.0/16'));
const a1 = { machineId: 'aaaaaaaaaaaa01', privateIp: 'fdaa:0:1:a7b:0:1:0:2' };
const a2 = { machineId: 'bbbbbbbbbbbb02', privateIp: 'fdaa:0:1:a7b:0:2:0:2' };
/** a1's id but for its last two characters: a TAP name keeps only the first 12 of 14, so theirs would be the same. */
const twin = { machineId: 'aaaaaaaaaaaa99', privateIp: 'fdaa:0:1:a7b:0:3:0:2' };

/** A host that shows whatever the test sets and records what is run on it. */
function fakeHost(observed: Observed) {
  const applied: Step[][] = [];
  const port: NetworkPort = {
    observeHost: async () => observed.host,
    observe: async () => structuredClone(observed),
    apply: async (steps) => { applied.push(steps); },
    counters: async () => new Map(),
  };
  const lines: Array<[string, string]> = [];
  return { port, applied, lines, observed };
}

describe('network keeper', () => {
  it('converges the namespace at open, but leaves machine links alone until it knows the live machines', async () => {
    const host = fakeHost({ host: { links: [], routes: [] } });
    const keeper = await NetworkKeeper.open({ layout, port: host.port, outboundNat: false, log: logOf(host), checkIntervalMs: 0 });
    assert.equal(host.lines[0]?.[1], 'network: namespace hangar created');
    assert.ok(host.lines.every(([level, message]) => level === 'info' && !/TAP/.test(message)));
    keeper.close();
  });

  it('makes and removes machine links one at a time, dropping an app\'s element with its last machine', async () => {
    const host = fakeHost({ host: { links: [], routes: [] } });
    const keeper = await NetworkKeeper.open({ layout, port: host.port, outboundNat: false, log: logOf(host), checkIntervalMs: 0 });
    host.applied.length = 0;
    await Promise.all([keeper.attach(a1), keeper.attach(a2), keeper.detach(a1.machineId), keeper.detach(a2.machineId)]);
    const tapDel = (id: string) => ({ argv: ['ip', '-n', 'hangar', 'link', 'del', `hgr${id.slice(0, 12)}`], tolerant: true });
    assert.deepEqual(host.applied, [
      [tapDel(a1.machineId), ...machineLinkSetup(layout, a1)],
      [tapDel(a2.machineId), ...machineLinkSetup(layout, a2)],
      machineLinkTeardown(layout, a1.machineId, a1.privateIp, false),
      machineLinkTeardown(layout, a2.machineId, a2.privateIp, true),
    ]);
    keeper.close();
  });

  it('gives a guest and its link the IPv4 address recorded with its machine, and one recorded without any the address its number gives', async () => {
    const host = fakeHost({ host: { links: [], routes: [] } });
    const keeper = await NetworkKeeper.open({ layout, port: host.port, outboundNat: false, log: logOf(host), checkIntervalMs: 0 });
    const recorded = { ...a2, privateIpv4: '172.19.0.1' };
    assert.equal(keeper.guestAddresses(recorded).ipv4, '172.19.0.1');
    assert.equal(keeper.guestAddresses(a1).ipv4, '172.19.0.1', 'machine 1, recorded before addresses were allocated');
    assert.equal(keeper.guestAddresses(a2).ipv4, '172.19.0.2');
    host.applied.length = 0;
    await keeper.attach(recorded);
    assert.ok(host.applied[0]?.some((step) => Array.isArray(step) && step.join(' ') === 'ip -n hangar route replace 172.19.0.1/32 dev hgrbbbbbbbbbbbb'));
    keeper.close();
  });

  it('refuses a link whose TAP name is another live machine\'s, touching neither the TAP nor that machine', async () => {
    const host = fakeHost({ host: { links: [], routes: [] } });
    const keeper = await NetworkKeeper.open({ layout, port: host.port, outboundNat: false, log: logOf(host), checkIntervalMs: 0 });
    await keeper.attach(a1);
    host.applied.length = 0;
    await assert.rejects(keeper.attach(twin), /TAP name hgraaaaaaaaaaaa is already machine aaaaaaaaaaaa01's/);
    // A failed launch lets go of its link: the TAP it never had is another machine's, and stays.
    await keeper.detach(twin.machineId);
    assert.deepEqual(host.applied, []);
    // The machine that has the TAP still lets go of it as before, and then the name is free.
    await keeper.detach(a1.machineId);
    assert.deepEqual(host.applied, [machineLinkTeardown(layout, a1.machineId, a1.privateIp, true)]);
    await keeper.attach(twin);
    keeper.close();
  });

  it('says which live machines share a TAP name when it learns them at start', async () => {
    const host = fakeHost({ host: { links: [], routes: [] } });
    const keeper = await NetworkKeeper.open({ layout, port: host.port, outboundNat: false, log: logOf(host), checkIntervalMs: 0 });
    host.lines.length = 0;
    await keeper.adopt([a1, a2, twin]);
    const errors = host.lines.filter(([level]) => level === 'error').map(([, message]) => message);
    assert.deepEqual(errors, ["machines aaaaaaaaaaaa01 and aaaaaaaaaaaa99 would share the TAP hgraaaaaaaaaaaa: aaaaaaaaaaaa99 is left without a network link"]);
    keeper.close();
  });

  it('logs what a check repaired as drift', async () => {
    const host = fakeHost({ host: { links: [], routes: [] } });
    const keeper = await NetworkKeeper.open({ layout, port: host.port, outboundNat: false, log: logOf(host), checkIntervalMs: 0 });
    await keeper.adopt([]);
    host.lines.length = 0;
    await keeper.converge('check');
    assert.ok(host.lines.length > 0);
    assert.ok(host.lines.every(([level, message]) => level === 'warn' && message.startsWith('network drift repaired: ')), JSON.stringify(host.lines));
    keeper.close();
  });
});

function logOf(host: ReturnType<typeof fakeHost>) {
  return {
    info: (_: object, message: string) => { host.lines.push(['info', message]); },
    warn: (_: object, message: string) => { host.lines.push(['warn', message]); },
    error: (_: object, message: string) => { host.lines.push(['error', message]); },
  };
}
