/**
 * Machines' IPv4 addresses: allocated per host, the lowest free of its range, and
 * kept with the machine; machines recorded before that keep the address their
 * number gives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { privateIp } from '../../src/domain/address.ts';
import { allocateIpv4, type HostRecord } from '../../src/domain/host.ts';
import { derivedIpv4, lowestFreeIpv4, machineIpv4, machineSlots, parseCidr4 } from '../../src/domain/ipv4.ts';
import { layoutOf, parseIpv4Range } from '../../src/network/layout.ts';
import { tapRoutes } from '../../src/network/plan.ts';

const HOST = 0x1234;
const range = parseIpv4Range('172.20.16.0/20');

function host(ipv4Range: string | undefined): HostRecord {
  return {
    id: 'fra-1', region: 'fra', address: '', hostNumber: HOST, cpus: null, memoryMb: null, diskBytes: 0, anyRegion: false, cordoned: false,
    epoch: 1, instanceId: 'i-0000000000000001', state: 'active', heartbeatAt: 0, registeredAt: 0, silentMs: 0, ...(ipv4Range ? { ipv4Range } : {}),
  };
}

describe('machine IPv4 addresses', () => {
  it('derives, for machines recorded without one, the address their number gave: the same for numbers 3,840 apart on a /20', () => {
    assert.equal(machineSlots(range), 3840);
    assert.equal(derivedIpv4(privateIp(1, HOST, 5), range), '172.20.16.5');
    // Why addresses are allocated now: machine numbers are the cluster's, so these two can be live on one host at once.
    assert.equal(derivedIpv4(privateIp(1, HOST, 3845), range), derivedIpv4(privateIp(1, HOST, 5), range));
    assert.equal(machineIpv4({ privateIp: privateIp(1, HOST, 5) }, range), '172.20.16.5', 'no recorded address: the derived one');
    assert.equal(machineIpv4({ privateIp: privateIp(1, HOST, 5), privateIpv4: '172.20.16.9' }, range), '172.20.16.9', 'the recorded one wins');
  });

  it('gives machines numbered 5 and 3,845 on one host different addresses, and routes each to its own', () => {
    const five = { privateIp: privateIp(1, HOST, 5), privateIpv4: allocateIpv4(host('172.20.16.0/20'), { recorded: [], unrecorded: [] }) };
    const later = { privateIp: privateIp(1, HOST, 3845), privateIpv4: allocateIpv4(host('172.20.16.0/20'), { recorded: [five.privateIpv4 as string], unrecorded: [] }) };
    assert.deepEqual([five.privateIpv4, later.privateIpv4], ['172.20.16.0', '172.20.16.1']);
    const layout = layoutOf('hgr-test', HOST, range);
    const route4 = (machine: typeof five) => tapRoutes(layout, machine).find((route) => route.family === 4)?.dst;
    assert.deepEqual([route4(five), route4(later)], ['172.20.16.0/32', '172.20.16.1/32']);
  });

  it('takes the lowest free address, counting machines without a recorded one at their derived address', () => {
    const small = parseIpv4Range('10.9.0.0/23');
    assert.equal(lowestFreeIpv4(small, []), '10.9.0.0');
    assert.equal(lowestFreeIpv4(small, ['10.9.0.0', '10.9.0.2']), '10.9.0.1');
    assert.equal(lowestFreeIpv4(small, ['10.9.0.1', '192.0.2.7']), '10.9.0.0', 'an address outside the range takes nothing in it');
    const all = Array.from({ length: 256 }, (_, i) => `10.9.0.${i}`);
    assert.equal(lowestFreeIpv4(small, all), undefined, 'the last /24 is never given: it holds the transit link and the gateway');
    const legacy = { recorded: ['10.9.0.2'], unrecorded: [privateIp(1, HOST, 256)] };
    assert.equal(allocateIpv4(host('10.9.0.0/23'), legacy), '10.9.0.1', 'number 256 derives 10.9.0.0 on a /23');
    assert.equal(allocateIpv4(host('10.9.0.0/23'), { recorded: ['10.9.0.1'], unrecorded: [privateIp(1, HOST, 257)] }), '10.9.0.0');
    assert.equal(allocateIpv4(host(undefined), legacy), undefined, 'a host that did not say its range (an older hangar) records none');
  });

  it('refuses a machine on a host whose range is full, naming the host and its range', () => {
    const holders = { recorded: Array.from({ length: 255 }, (_, i) => `10.9.0.${i + 1}`), unrecorded: [privateIp(1, HOST, 512)] };
    assert.throws(() => allocateIpv4(host('10.9.0.0/23'), holders), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'insufficient_capacity');
      assert.match(error.message, /host fra-1 has no free IPv4 address: its range 10\.9\.0\.0\/23 holds 256 machines/);
      return true;
    });
  });

  it('reads any IPv4 block', () => {
    assert.deepEqual(parseCidr4('10.9.0.0/23'), { base: 0x0a090000, prefixLength: 23 });
    assert.equal(parseCidr4('10.9.0.256/23'), undefined);
  });
});
