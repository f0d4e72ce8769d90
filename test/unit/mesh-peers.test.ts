import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirectoryMachine, MeshHost } from '../../src/domain/ports.ts';
import { parseEndpoint, planPeers, spanPrefix } from '../../src/network/mesh/peers.ts';
import { publicKeyOf, wireguardConfig } from '../../src/network/mesh/wireguard.ts';

// RFC 7748 §6.1: Alice's and Bob's X25519 keys.
const ALICE = { private: Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64'),
  public: Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex').toString('base64') };
const BOB = Buffer.from('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', 'hex').toString('base64');

/** A host with a key of its own (Bob's for number 2, the one the config test reads). */
const host = (hostId: string, hostNumber: number, overrides: Partial<MeshHost> = {}): MeshHost =>
  ({ hostId, hostNumber, kind: 'wireguard', endpoint: `10.0.0.${hostNumber}:51820`, publicKey: hostNumber === 2 ? BOB : keyOf(hostNumber), ...overrides });
const keyOf = (n: number) => Buffer.alloc(32, n).toString('base64');
const self = { hostId: 'h1', kind: 'wireguard' as const };
let n = 0;
/** A machine of app `app` (its network number) on host `hostId` (number `hostNumber`), at an address of that host's unless `address`. */
const on = (hostId: string, hostNumber: number, app: number, state = 'started', address?: string): DirectoryMachine => ({
  id: `m${++n}`, appName: `app${app}`, region: 'fra', hostId, state, skipRegistration: false,
  privateIp: address ?? `fdaa:0:${app.toString(16)}:${hostNumber.toString(16)}:0:${n}:0:2`,
});

describe('the private network\'s peers', () => {
  it('routes each app\'s /64 on a peer while the app has a machine there, and never to itself', () => {
    const plan = planPeers(self, [host('h2', 2), host('h1', 1), host('h3', 0x1a), host('h4', 4)], [
      on('h2', 2, 5), on('h2', 2, 1, 'stopped'), on('h2', 2, 1), on('h1', 1, 1), on('h3', 0x1a, 0xbeef), on('h4', 4, 9, 'destroyed'), on('h9', 9, 1),
    ]);
    assert.deepEqual(plan.peers, [
      { hostId: 'h2', hostNumber: 2, endpoint: { host: '10.0.0.2', port: 51820 }, publicKey: BOB, prefixes: ['fdaa:0:1:2::/64', 'fdaa:0:5:2::/64'], host: 'fdaa:0:0:2::1/128' },
      { hostId: 'h3', hostNumber: 0x1a, endpoint: { host: '10.0.0.26', port: 51820 }, publicKey: keyOf(0x1a), prefixes: ['fdaa:0:beef:1a::/64'], host: 'fdaa:0:0:1a::1/128' },
    ]);
    assert.deepEqual(plan.skipped, []);
  });

  it('routes a machine moved to a peer with its address kept as a /128 there, longer than its former host\'s /64', () => {
    const moved = { ...on('h3', 3, 7, 'started', 'fdaa:0:7:2:0:9:0:2'), movedAddress: true as const };
    const plan = planPeers(self, [host('h2', 2), host('h3', 3)], [on('h2', 2, 7), moved]);
    assert.deepEqual(plan.peers.map((peer) => [peer.hostId, peer.prefixes]), [['h2', ['fdaa:0:7:2::/64']], ['h3', ['fdaa:0:7:2:0:9:0:2/128']]]);
    assert.deepEqual(plan.skipped, []);
    const unvouched = planPeers(self, [host('h3', 3)], [on('h3', 3, 7, 'started', 'fdaa:0:7:2:0:9:0:2')]);
    assert.deepEqual(unvouched.peers, [], 'without the directory\'s word that it was kept, such an address is a stray');
  });

  it('leaves out a peer with no machines, and says nothing of it', () => {
    assert.deepEqual(planPeers(self, [host('h2', 2)], [on('h1', 1, 1)]), { peers: [], skipped: [] });
  });

  it('routes nothing for a machine whose address is not in its own host\'s /64s: a host writes its machines\' records', () => {
    const plan = planPeers(self, [host('h2', 2), host('h3', 3)], [
      on('h2', 2, 1, 'started', 'fdaa:0:7:3:0:1:0:2'), on('h2', 2, 1, 'started', 'fdaa:0:0:2::1'), on('h2', 2, 1, 'started', 'fd00::1'), on('h3', 3, 7),
    ]);
    assert.deepEqual(plan.peers.map((peer) => [peer.hostId, peer.prefixes]), [['h3', ['fdaa:0:7:3::/64']]]);
    assert.deepEqual(plan.skipped.map((entry) => entry.hostId), ['h2']);
  });

  it('reads what other hosts published as hostile: a bad end leaves that host out, with the reason', () => {
    const spans = [2, 3, 4, 5, 6, 7, 8].map((hostNumber) => on(['loopback', 'named', 'no-key', 'bad-key', 'plain', 'mapped', 'good'][hostNumber - 2] as string, hostNumber, 1));
    const plan = planPeers(self, [
      host('loopback', 2, { endpoint: '127.0.0.1:22' }),
      host('named', 3, { endpoint: 'db.internal:5432' }),
      host('no-key', 4, { publicKey: undefined }),
      host('bad-key', 5, { publicKey: 'not a key' }),
      host('plain', 6, { kind: 'plain', publicKey: undefined }),
      host('mapped', 7, { endpoint: '[::ffff:127.0.0.1]:51820' }),
      host('good', 8, { endpoint: '[fd00::8]:51820' }),
    ], spans);
    assert.deepEqual(plan.peers.map((peer) => peer.hostId), ['good']);
    assert.deepEqual(plan.skipped.map((entry) => [entry.hostId, entry.reason]), [
      ['loopback', 'its endpoint 127.0.0.1:22 is not an address another host can reach'],
      ['named', 'its endpoint "db.internal:5432" is not IP:PORT'],
      ['no-key', 'its WireGuard public key is not one'],
      ['bad-key', 'its WireGuard public key is not one'],
      ['plain', 'it reaches its peers over plain, this host over wireguard'],
      ['mapped', 'its endpoint [::ffff:127.0.0.1]:51820 is not an address another host can reach'],
    ]);
  });

  it('leaves out a host that published this host\'s key or another host\'s: one would take the other\'s traffic', () => {
    const other = Buffer.alloc(32, 7).toString('base64');
    const plan = planPeers({ ...self, publicKey: ALICE.public }, [
      host('mine', 2, { publicKey: ALICE.public }), host('twin-a', 3, { publicKey: other }), host('twin-b', 4, { publicKey: other }), host('own', 5),
    ], [on('mine', 2, 1), on('twin-a', 3, 1), on('twin-b', 4, 1), on('own', 5, 1)]);
    assert.deepEqual(plan.peers.map((peer) => peer.hostId), ['own']);
    assert.deepEqual(plan.skipped.map((entry) => [entry.hostId, entry.reason]), [
      ['mine', 'it published this host\'s own public key'],
      ['twin-a', 'it published the same public key as host twin-b'],
      ['twin-b', 'it published the same public key as host twin-a'],
    ]);
  });

  it('takes only an IP literal and a port for an endpoint', () => {
    assert.deepEqual(parseEndpoint('192.0.2.1:51820'), { host: '192.0.2.1', port: 51820 });
    assert.deepEqual(parseEndpoint('[2001:db8::1]:1'), { host: '2001:db8::1', port: 1 });
    assert.deepEqual(parseEndpoint('[2001:DB8:0:0::01]:1'), { host: '2001:db8::1', port: 1 }, 'as ip prints it');
    for (const bad of ['192.0.2.1', '192.0.2.1:0', '192.0.2.1:65536', '999.0.0.1:1', '2001:db8::1:51820', '[192.0.2.1]:1', 'host:1', '']) {
      assert.equal(parseEndpoint(bad), undefined, bad);
    }
  });

  it('finds an address\'s /64 only among its host\'s own', () => {
    assert.equal(spanPrefix('fdaa:0:10:a7b:0:5:0:2', 0xa7b), 'fdaa:0:10:a7b::/64');
    for (const bad of ['fdaa:0:10:a7c:0:5:0:2', 'fdaa:0:0:a7b::1', 'fdab:0:10:a7b::2', '::ffff:10.0.0.1', 'not an address']) assert.equal(spanPrefix(bad, 0xa7b), undefined, bad);
  });
});

describe('WireGuard', () => {
  it('derives the public key as X25519 does (RFC 7748)', () => {
    assert.equal(publicKeyOf(ALICE.private), ALICE.public);
  });

  it('hands wg this end and each peer with its /64s and its own address', () => {
    const [peer] = planPeers(self, [host('h2', 2, { endpoint: '[fd00::2]:51000' })], [on('h2', 2, 1), on('h2', 2, 3)]).peers;
    assert.equal(wireguardConfig(ALICE.private, 51820, [peer!]), [
      '[Interface]', `PrivateKey = ${ALICE.private}`, 'ListenPort = 51820', '',
      '[Peer]', `PublicKey = ${BOB}`, 'Endpoint = [fd00::2]:51000', 'AllowedIPs = fdaa:0:1:2::/64, fdaa:0:3:2::/64, fdaa:0:0:2::1/128', '',
    ].join('\n'));
  });
});
