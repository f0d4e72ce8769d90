import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirectoryMachine, MeshDirectory, MeshHost, UnderlayEnd } from '../../src/domain/ports.ts';
import { MeshKeeper } from '../../src/network/mesh/mesh-keeper.ts';
import type { Peer } from '../../src/network/mesh/peers.ts';
import type { Underlay } from '../../src/network/mesh/underlay.ts';

const KEY = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
const keyOf = (n: number) => Buffer.alloc(32, n).toString('base64');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const on = (hostId: string, hostNumber: number, app: number): DirectoryMachine => ({
  id: `${hostId}-${app}`, appName: `app${app}`, region: 'fra', hostId, state: 'started', skipRegistration: false, privateIp: `fdaa:0:${app}:${hostNumber}:0:1:0:2`,
});

function rig() {
  const state: { hosts: MeshHost[]; down: boolean; published: Array<[string, UnderlayEnd]> } = {
    hosts: [
      { hostId: 'h1', hostNumber: 1, kind: 'wireguard', endpoint: '10.0.0.1:51820', publicKey: KEY },
      { hostId: 'h2', hostNumber: 2, kind: 'wireguard', endpoint: '10.0.0.2:51820', publicKey: keyOf(2) },
    ],
    down: false,
    published: [],
  };
  const directory: MeshDirectory = {
    publish: async (hostId, end) => { state.published.push([hostId, end]); },
    hosts: async () => {
      if (state.down) throw new Error('connection refused');
      return state.hosts;
    },
  };
  const calls: string[] = [];
  const configured: Peer[][] = [];
  const underlay: Underlay = {
    kind: 'wireguard', link: 'hgw-test',
    end: () => ({ kind: 'wireguard', endpoint: '10.0.0.1:51820', publicKey: KEY }),
    ensure: async () => { calls.push('ensure'); },
    configure: async (peers) => { calls.push('configure'); configured.push(peers); },
    gateway: () => ({}),
  };
  const prefixes: string[][] = [];
  const network = { setMeshRoutes: async (given: Array<{ prefix: string }>) => { prefixes.push(given.map((route) => route.prefix)); } };
  const warnings: string[] = [];
  const log = { info() {}, warn: (_: object, message: string) => { warnings.push(message); } };
  // Every host's machines, as the DNS's table keeps them.
  let list: DirectoryMachine[] = [];
  const listeners = new Set<() => void>();
  const machines = {
    all: () => list,
    onChange: (listener: () => void) => { listeners.add(listener); return () => listeners.delete(listener); },
    set(next: DirectoryMachine[]) { list = next; for (const listener of listeners) listener(); },
  };
  return { state, directory, underlay, network, log, calls, configured, prefixes, warnings, machines };
}

describe('mesh keeper', () => {
  it('publishes its end, then follows where apps have machines, applying only what changed', async () => {
    const r = rig();
    const keeper = await MeshKeeper.start({ hostId: 'h1', directory: r.directory, machines: r.machines, underlay: r.underlay, network: r.network, log: r.log, intervalMs: 10 });
    try {
      assert.deepEqual(r.state.published, [['h1', { kind: 'wireguard', endpoint: '10.0.0.1:51820', publicKey: KEY }]]);
      assert.deepEqual(r.calls, ['ensure', 'configure'], 'the link is made before the end is published, and the first plan applied');
      assert.deepEqual(r.prefixes, [[]]);
      await sleep(50);
      assert.equal(r.configured.length, 1, 'nothing changed: nothing applied again');

      r.machines.set([on('h2', 2, 7), on('h1', 1, 7)]);
      await sleep(5);
      assert.deepEqual(r.prefixes.at(-1), ['fdaa:0:7:2::/64', 'fdaa:0:0:2::1/128'], 'a machine\'s change plans at once; the peer\'s own address comes with it');
      assert.deepEqual(r.configured.at(-1)?.map((peer) => peer.hostId), ['h2']);
      assert.equal(r.configured.length, 2);

      r.state.down = true;
      r.machines.set([on('h2', 2, 7), on('h1', 1, 7), on('h3', 3, 7)]);
      await sleep(1100);
      assert.equal(r.configured.length, 2, 'the hosts out of reach: the peers stay');
      assert.equal(r.warnings.filter((w) => /cannot read/.test(w)).length, 1, 'said once');

      r.state.down = false;
      r.state.hosts.push({ hostId: 'h3', hostNumber: 3, kind: 'wireguard', endpoint: '10.0.0.3:51820', publicKey: keyOf(3) });
      await sleep(1100);
      assert.deepEqual(r.prefixes.at(-1), ['fdaa:0:7:2::/64', 'fdaa:0:0:2::1/128', 'fdaa:0:7:3::/64', 'fdaa:0:0:3::1/128'], 'a machine on a host not known yet: the hosts are read again');
      r.machines.set([]);
      await sleep(5);
      assert.deepEqual(r.prefixes.at(-1), [], 'the app\'s last machines went: so do the routes');
    } finally {
      await keeper.stop();
    }
  });

  it('applies nothing before it has read the hosts once: a start with the database away keeps the peers the link has', async () => {
    const r = rig();
    r.state.down = true;
    const keeper = await MeshKeeper.start({ hostId: 'h1', directory: r.directory, machines: r.machines, underlay: r.underlay, network: r.network, log: r.log, intervalMs: 10 });
    try {
      r.machines.set([on('h2', 2, 7)]);
      await sleep(50);
      assert.deepEqual([r.configured.length, r.prefixes.length], [0, 0]);
      r.state.down = false;
      await sleep(50);
      assert.deepEqual(r.prefixes.at(-1), ['fdaa:0:7:2::/64', 'fdaa:0:0:2::1/128']);
    } finally {
      await keeper.stop();
    }
  });

  it('applies the plan again when it is due for repair, even unchanged', async () => {
    const r = rig();
    const keeper = await MeshKeeper.start({ hostId: 'h1', directory: r.directory, machines: r.machines, underlay: r.underlay, network: r.network, log: r.log, intervalMs: 10, repairMs: 30 });
    try {
      await sleep(120);
      assert.ok(r.calls.filter((call) => call === 'ensure').length >= 3, r.calls.join(','));
    } finally {
      await keeper.stop();
    }
  });

  it('says once that a host is left out, and why', async () => {
    const r = rig();
    r.state.hosts.push({ hostId: 'h3', hostNumber: 3, kind: 'wireguard', endpoint: '127.0.0.1:22', publicKey: keyOf(3) });
    r.machines.set([on('h3', 3, 1)]);
    const keeper = await MeshKeeper.start({ hostId: 'h1', directory: r.directory, machines: r.machines, underlay: r.underlay, network: r.network, log: r.log, intervalMs: 10 });
    await sleep(50);
    await keeper.stop();
    assert.deepEqual(r.warnings, ['network: host h3 is left out of the private network: its endpoint 127.0.0.1:22 is not an address another host can reach']);
  });
});
