import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseHost, twoAtRandom, type HostRecord, type HostUsage } from '../../src/domain/host.ts';

/** How long a host may be silent and still take machines. */
const NOW = 10_000;

function host(id: string, region: string, extra: Partial<HostRecord> = {}): HostRecord {
  return {
    id, region, address: '', hostNumber: 1, cpus: 8, memoryMb: 8192, diskBytes: 0, anyRegion: false, cordoned: false,
    epoch: 1, instanceId: 'i-0000000000000001', state: 'active', heartbeatAt: 0, registeredAt: 0, silentMs: 0, ...extra,
  };
}

function usage(record: HostRecord, reservedMemoryMb = 0, reservedCpus = 0, machines = 0): HostUsage {
  return { host: record, reservedMemoryMb, reservedCpus, machines };
}

const need = { region: 'fra', cpus: 1, memoryMb: 1024 };

describe('choosing a host', () => {
  it('takes the host of the region with the largest share of memory left', () => {
    const hosts = [usage(host('a', 'fra'), 4096), usage(host('b', 'fra'), 1024), usage(host('c', 'syd'))];
    assert.equal(chooseHost(hosts, need, NOW).host.id, 'b');
  });

  it('refuses a region no host serves with 400, naming the regions that exist', () => {
    const hosts = [usage(host('a', 'fra')), usage(host('b', 'syd'))];
    assert.throws(() => chooseHost(hosts, { ...need, region: 'ord' }, NOW), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'invalid_argument');
      assert.match(error.message, /region "ord" has no hosts \(regions: fra, syd\)/);
      return true;
    });
  });

  it('binds a machine to its volume\'s host: that host alone, full or not, in its own region only', () => {
    const hosts = [usage(host('a', 'fra')), usage(host('b', 'fra'), 8192), usage(host('c', 'syd'))];
    assert.equal(chooseHost(hosts, { ...need, onHost: 'a' }, NOW).host.id, 'a');
    assert.throws(() => chooseHost(hosts, { ...need, onHost: 'b' }, NOW), /no host of region fra has room/);
    assert.throws(() => chooseHost(hosts, { ...need, onHost: 'c' }, NOW), /volume is on host c in region syd, not fra/);
    assert.throws(() => chooseHost(hosts, { ...need, onHost: 'gone' }, NOW), /host gone.*is not registered/);
  });

  it('avoids the hosts it is told to while another fits, and takes them when none does', () => {
    const hosts = [usage(host('a', 'fra')), usage(host('b', 'fra'), 4096)];
    assert.equal(chooseHost(hosts, { ...need, avoid: ['a'] }, NOW).host.id, 'b');
    assert.equal(chooseHost(hosts, { ...need, avoid: ['a', 'b'] }, NOW).host.id, 'a');
    assert.equal(chooseHost([usage(host('a', 'fra')), usage(host('b', 'fra'), 8192)], { ...need, avoid: ['a'] }, NOW).host.id, 'a');
  });

  it('skips cordoned, silent and lost hosts, and says so when nothing is left', () => {
    const silent = host('b', 'fra', { silentMs: NOW + 1 });
    const hosts = [usage(host('a', 'fra', { cordoned: true })), usage(silent), usage(host('c', 'fra', { state: 'lost' }))];
    assert.throws(() => chooseHost(hosts, need, NOW), /insufficient resources.*cordoned, lost or has not sent a heartbeat in 10 s/);
    assert.equal(chooseHost([usage(host('d', 'fra', { silentMs: NOW }))], need, NOW).host.id, 'd', 'silent for exactly the limit is still fresh');
    assert.equal(chooseHost(hosts, need, NOW, 'b').host.id, 'b', 'the host inside this process is fresh by definition');
  });

  it('never overbooks CPUs or memory, and says what is free', () => {
    const hosts = [usage(host('a', 'fra'), 7680), usage(host('b', 'fra', { cpus: 2 }), 0, 2)];
    assert.throws(() => chooseHost(hosts, need, NOW), /no host of region fra has room for 1 CPUs and 1024 MB \(a: 8 CPUs and 512 MB free; b: 0 CPUs and 8192 MB free\)/);
    assert.equal(chooseHost(hosts, { ...need, memoryMb: 512 }, NOW).host.id, 'a');
  });

  it('lets a host on its own serve any region, without limits', () => {
    const alone = host('solo', 'local', { anyRegion: true, cpus: null, memoryMb: null });
    assert.equal(chooseHost([usage(alone, 1e9, 1e6)], { region: 'ams', cpus: 64, memoryMb: 65536 }, NOW).host.id, 'solo');
  });

  it('breaks ties by fewer machines, then by id', () => {
    const hosts = [usage(host('b', 'fra'), 0, 0, 3), usage(host('c', 'fra'), 0, 0, 1), usage(host('a', 'fra'), 0, 0, 1)];
    assert.equal(chooseHost(hosts, need, NOW).host.id, 'a');
  });

  it('compares two fit hosts at random: creates at the same moment spread, and the fullest host is never taken over another', () => {
    const hosts = [usage(host('a', 'fra'), 0), usage(host('b', 'fra'), 0), usage(host('c', 'fra'), 0), usage(host('d', 'fra'), 4096)];
    const sample = twoAtRandom((max) => Math.floor(Math.random() * max));
    const chosen = Array.from({ length: 200 }, () => chooseHost(hosts, need, NOW, undefined, sample).host.id);
    assert.deepEqual([...new Set(chosen)].sort(), ['a', 'b', 'c']);
    assert.equal(chooseHost([usage(host('a', 'fra'), 7000), usage(host('b', 'fra'), 0)], need, NOW, undefined, sample).host.id, 'b', 'with two fit hosts, both are compared');
  });
});

describe('choosing a host: IPv4 addresses', () => {
  it('passes over a host whose IPv4 range has no free address, and names the host and its range when none is left', () => {
    const full = host('a', 'fra', { ipv4Range: '10.9.0.0/23' });
    const roomy = host('b', 'fra', { ipv4Range: '10.9.2.0/23' });
    assert.equal(chooseHost([usage(full, 0, 0, 256), usage(roomy, 4096, 0, 255)], need, NOW).host.id, 'b', 'a has the memory, b the addresses');
    assert.throws(() => chooseHost([usage(full, 0, 0, 256)], need, NOW), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'insufficient_capacity');
      assert.match(error.message, /a: no free IPv4 address in 10\.9\.0\.0\/23/);
      return true;
    });
    assert.equal(chooseHost([usage(host('c', 'fra'), 0, 0, 100_000)], need, NOW).host.id, 'c', 'a host that did not say its range is not limited by it');
  });
});
