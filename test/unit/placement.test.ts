import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { placementCount, resolveRegions, servedRegions } from '../../src/domain/placement.ts';
import { proxyAddresses } from '../../src/proxy/addresses.ts';

const GB = 1024 ** 3;

describe('placement rules', () => {
  it('serves the default region first, then the others in use, once each', () => {
    assert.deepEqual(servedRegions('local', ['ams', 'local', 'syd']), ['local', 'ams', 'syd']);
  });

  it('resolves a region expression to the served regions it names', () => {
    const served = ['local', 'ams'];
    assert.deepEqual(resolveRegions('', served, 'local'), ['local']);
    assert.deepEqual(resolveRegions(' AMS , any ', served, 'local'), ['ams', 'local']);
    assert.deepEqual(resolveRegions('lhr,ams', served, 'local'), ['ams']);
    assert.throws(() => resolveRegions('lhr', served, 'local'), /region "lhr" is not served by this hangar \(it serves local, ams\)/);
  });

  it('counts what the host takes: all machines asked, no more volumes than the disk holds', () => {
    const room = { memoryBytes: 8 * GB, volumeBytes: 15 * GB };
    assert.equal(placementCount({ count: 100, memoryMb: 2048, volumeBytes: 0 }, room), 100);
    assert.equal(placementCount({ count: 0, memoryMb: 2048, volumeBytes: 0 }, room), 4);
    assert.equal(placementCount({ count: 10, memoryMb: 256, volumeBytes: 5 * GB }, room), 3);
    assert.equal(placementCount({ count: 0, memoryMb: 256, volumeBytes: 5 * GB }, room), 3);
    assert.throws(() => placementCount({ count: 1, memoryMb: 256, volumeBytes: 16 * GB }, room), /not enough disk space/);
    assert.throws(() => placementCount({ count: 0, memoryMb: 16384, volumeBytes: 0 }, room), /does not fit in this host's 8192 MB/);
  });
});

describe('the edge proxy\'s addresses', () => {
  const interfaces = [
    { address: '127.0.0.1', family: 'IPv4' as const, internal: true },
    { address: '::1', family: 'IPv6' as const, internal: true },
    { address: '192.0.2.7', family: 'IPv4' as const, internal: false },
    { address: '2001:db8::7', family: 'IPv6' as const, internal: false },
    { address: 'fe80::1', family: 'IPv6' as const, internal: false },
  ];

  it('are the listeners\' IP hosts, each once; host names are left out', () => {
    assert.deepEqual(proxyAddresses(['127.0.0.1', '127.0.0.1', 'localhost', '::1'], interfaces), ['127.0.0.1', '::1']);
  });

  it('read a wildcard as the host\'s own addresses but loopback and link-local', () => {
    assert.deepEqual(proxyAddresses(['0.0.0.0'], interfaces), ['192.0.2.7']);
    assert.deepEqual(proxyAddresses(['::'], interfaces), ['192.0.2.7', '2001:db8::7']);
  });
});
