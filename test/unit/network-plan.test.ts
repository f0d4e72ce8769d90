import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allowSameApp, appPrefix, guestMac, isolationRuleset, machineIpv4, machineLinkSetup, machineLinkTeardown, namespaceSetup, namespaceTeardown,
  natRuleset, outboundNatSetup, outboundNatTeardown, tapName,
} from '../../src/network/plan.ts';

const plan = { ns: 'hangar', hostVeth: 'hgr-hangar', hostRoutes: ['fdaa::/16'] };

describe('network plan', () => {
  it('builds the namespace, its veth link and the host route', () => {
    assert.deepEqual(namespaceSetup(plan), [
      ['ip', 'netns', 'add', 'hangar'],
      ['ip', '-n', 'hangar', 'link', 'set', 'lo', 'up'],
      ['ip', 'link', 'add', 'hgr-hangar', 'type', 'veth', 'peer', 'name', 'hgrv0', 'netns', 'hangar'],
      ['ip', '-6', 'addr', 'add', 'fdaa:ffff::1/64', 'dev', 'hgr-hangar', 'nodad'],
      ['ip', 'addr', 'add', '172.19.255.1/30', 'dev', 'hgr-hangar'],
      ['ip', 'link', 'set', 'hgr-hangar', 'up'],
      ['ip', '-n', 'hangar', '-6', 'addr', 'add', 'fdaa:ffff::2/64', 'dev', 'hgrv0', 'nodad'],
      ['ip', '-n', 'hangar', 'addr', 'add', '172.19.255.2/30', 'dev', 'hgrv0'],
      ['ip', '-n', 'hangar', 'link', 'set', 'hgrv0', 'up'],
      ['ip', 'netns', 'exec', 'hangar', 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1'],
      ['ip', 'netns', 'exec', 'hangar', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
      ['ip', '-6', 'route', 'replace', 'fdaa::/16', 'via', 'fdaa:ffff::2', 'dev', 'hgr-hangar'],
      ['ip', 'route', 'replace', '172.19.0.0/16', 'via', '172.19.255.2', 'dev', 'hgr-hangar'],
    ]);
    assert.deepEqual(namespaceTeardown(plan), [
      ['ip', '-6', 'route', 'del', 'fdaa::/16', 'via', 'fdaa:ffff::2', 'dev', 'hgr-hangar'],
      ['ip', 'route', 'del', '172.19.0.0/16', 'via', '172.19.255.2', 'dev', 'hgr-hangar'],
      ['ip', 'link', 'del', 'hgr-hangar'],
      ['ip', 'netns', 'del', 'hangar'],
    ]);
  });

  it('gives each machine a routed TAP', () => {
    assert.equal(tapName('73d8d46dbee589'), 'hgr73d8d46dbee5');
    assert.equal(tapName('73d8d46dbee589').length <= 15, true);
    assert.equal(guestMac('73d8d46dbee589'), '02:73:d8:d4:6d:be');
    assert.deepEqual(machineLinkSetup('hangar', 'hgrabc', 'fdaa:0:1:a7b:0:1:0:2'), [
      ['ip', '-n', 'hangar', 'tuntap', 'add', 'dev', 'hgrabc', 'mode', 'tap'],
      ['ip', '-n', 'hangar', '-6', 'addr', 'add', 'fe80::1/64', 'dev', 'hgrabc', 'nodad'],
      ['ip', '-n', 'hangar', 'addr', 'add', '172.19.255.254/32', 'dev', 'hgrabc'],
      ['ip', '-n', 'hangar', 'link', 'set', 'hgrabc', 'up'],
      ['ip', '-n', 'hangar', '-6', 'route', 'replace', 'fdaa:0:1:a7b:0:1:0:2/128', 'dev', 'hgrabc'],
      ['ip', '-n', 'hangar', 'route', 'replace', '172.19.0.1/32', 'dev', 'hgrabc'],
    ]);
    assert.deepEqual(machineLinkTeardown('hangar', 'hgrabc'), [['ip', '-n', 'hangar', 'link', 'del', 'hgrabc']]);
  });

  it('lets machines of one app reach each other, and nothing else between machines', () => {
    assert.equal(appPrefix('fdaa:0:1f:a7b:0:3:0:2'), 'fdaa:0:1f::/48');
    assert.deepEqual(allowSameApp('hangar', 'fdaa:0:1f:a7b:0:3:0:2'),
      ['ip', 'netns', 'exec', 'hangar', 'nft', 'add', 'element', 'inet', 'hangar', 'same_app', '{ fdaa:0:1f::/48 . fdaa:0:1f::/48 }']);
    const rules = isolationRuleset();
    assert.match(rules, /type filter hook forward priority 0; policy drop;/);
    assert.match(rules, /iifname "hgrv0" accept\n {4}oifname "hgrv0" accept\n {4}ip6 saddr \. ip6 daddr @same_app accept/);
  });

  it('derives each machine\'s IPv4 address from its machine number, outside the transit /24', () => {
    assert.equal(machineIpv4('fdaa:0:1:a7b:0:1:0:2'), '172.19.0.1');
    assert.equal(machineIpv4('fdaa:0:1f:a7b:0:1ff:0:2'), '172.19.1.255');
    assert.equal(machineIpv4('fdaa:0:1f:a7b:0:feff:0:2'), '172.19.254.255');
    // The pool holds 255 * 256 addresses, then wraps (the 172.19.255.0/24 transit is never handed out).
    assert.equal(machineIpv4('fdaa:0:1f:a7b:0:ff00:0:2'), '172.19.0.0');
    assert.equal(machineIpv4('fdaa:0:1f:a7b:1:0:0:2'), '172.19.1.0');
  });

  it('plans outbound NAT: a default route out of the namespace and IPv4 masquerade on the host', () => {
    assert.deepEqual(outboundNatSetup(plan), [
      ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
      ['ip', '-n', 'hangar', 'route', 'replace', 'default', 'via', '172.19.255.1', 'dev', 'hgrv0'],
    ]);
    assert.deepEqual(outboundNatTeardown(plan), [
      ['ip', '-n', 'hangar', 'route', 'del', 'default', 'via', '172.19.255.1', 'dev', 'hgrv0'],
      ['nft', 'delete', 'table', 'ip', 'hangar_nat_hangar'],
    ]);
    assert.match(natRuleset(plan), /table ip hangar_nat_hangar \{\n {2}chain postrouting \{\n {4}type nat hook postrouting priority srcnat; policy accept;\n {4}ip saddr 172\.19\.0\.0\/16 oifname != "hgr-hangar" masquerade/);
  });
});
