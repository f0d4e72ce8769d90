import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dnsResolvConf } from '../../src/vmm/qemu/boot-config.ts';

describe('a guest\'s /etc/resolv.conf', () => {
  it('names the private DNS on the machines\' network, the machine\'s own servers when it has some, and nothing without a network', () => {
    assert.equal(dnsResolvConf(undefined, true), 'nameserver fdaa::3\n');
    assert.equal(dnsResolvConf({ nameservers: [] }, true), 'nameserver fdaa::3\n');
    assert.equal(dnsResolvConf({ nameservers: ['9.9.9.9', '2620:fe::fe'], searches: ['web.internal'] }, true),
      'nameserver 9.9.9.9\nnameserver 2620:fe::fe\nsearch web.internal\n');
    assert.equal(dnsResolvConf({ searches: ['internal'] }, true), 'nameserver fdaa::3\nsearch internal\n');
    assert.equal(dnsResolvConf(undefined, false), undefined);
  });
});
