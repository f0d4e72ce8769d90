import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { privateIp } from '../../src/domain/address.ts';
import { conflicts, type Desired, repairs } from '../../src/network/converge.ts';
import { chooseLayout } from '../../src/network/identity.ts';
import {
  appPrefix, canonicalAddress, defaultHostNumber, derivedIpv4, formatIpv4Range, hostVethName, layoutOf, machineIpv4, parseIpv4Range, transit,
} from '../../src/network/layout.ts';
import { type Observed, type ObservedHost, parseLinks, parseNftTable, parseRoutes } from '../../src/network/observed.ts';
import {
  guestMac, isolationRuleset, machineLinkSetup, machineLinkTeardown, namespaceTeardown, natRuleset, tapName, tapNameHolder,
} from '../../src/network/plan.ts';

const layout = layoutOf('hangar', 0xa7b, parseIpv4Range('172.19.0.0/16'));
const machine = { machineId: '73d8d46dbee589', privateIp: 'fdaa:0:1:a7b:0:5:0:2' };
const TAP = 'hgr73d8d46dbee5';

/** The host and namespace as they are once everything for `machine` is in place (nothing else on the host but eth0). */
function healthy(): Observed {
  return {
    host: {
      links: [
        { name: 'eth0', up: true, addresses: ['192.0.2.2/24', 'fd00::2/64', 'fe80::fc:ff:fe00:1/64'] },
        { name: 'hgr-hangar', up: true, addresses: ['172.19.255.1/30', 'fdaa:0:0:a7b::1/64', 'fe80::88e3:8ff:fe1f:f0a9/64'] },
      ],
      routes: [
        { family: 6, dst: 'fdaa:0:0:a7b::/64', dev: 'hgr-hangar', protocol: 'kernel', metric: 256 },
        { family: 6, dst: 'fdaa:0:1:a7b:0:5:0:2/128', gateway: 'fdaa:0:0:a7b::2', dev: 'hgr-hangar', metric: 1024 },
        { family: 6, dst: 'fdaa::/16', type: 'unreachable', dev: 'lo', metric: 4294967295 },
        { family: 6, dst: 'default', gateway: 'fd00::1', dev: 'eth0', metric: 1024 },
        { family: 4, dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
        { family: 4, dst: '172.19.0.0/16', gateway: '172.19.255.2', dev: 'hgr-hangar' },
        { family: 4, dst: '172.19.255.0/30', dev: 'hgr-hangar', protocol: 'kernel' },
        { family: 4, dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
      ],
    },
    ns: {
      links: [
        { name: 'lo', up: true, addresses: ['127.0.0.1/8', '::1/128'] },
        { name: 'hgrv0', up: true, addresses: ['172.19.255.2/30', 'fdaa:0:0:a7b::2/64', 'fe80::dc51:82ff:fea3:9a55/64'] },
        { name: TAP, up: true, addresses: ['172.19.255.254/32', 'fe80::1/64'] },
      ],
      routes: [
        { family: 6, dst: 'fdaa:0:0:a7b::/64', dev: 'hgrv0', protocol: 'kernel', metric: 256 },
        { family: 6, dst: 'fdaa:0:1:a7b:0:5:0:2/128', dev: TAP, metric: 1024 },
        { family: 6, dst: 'fe80::/64', dev: TAP, protocol: 'kernel', metric: 256 },
        { family: 4, dst: '172.19.0.5/32', dev: TAP },
        { family: 4, dst: '172.19.255.0/30', dev: 'hgrv0', protocol: 'kernel' },
      ],
      forwarding: { 'net.ipv6.conf.all.forwarding': true, 'net.ipv4.ip_forward': true },
      firewall: { shape: 'loaded', apps: ['fdaa:0:1::/48'], sources: [] },
    },
  };
}

const desired: Desired = { layout, outboundNat: false, links: [machine], firewallShape: 'loaded' };

describe('network layout', () => {
  it('keeps host a7b and 172.19.0.0/16 for the namespace hangar, with the transit addresses it always had for IPv4', () => {
    assert.equal(defaultHostNumber('hangar'), 0xa7b);
    assert.equal(privateIp(1, 0xa7b, 5), 'fdaa:0:1:a7b:0:5:0:2');
    assert.deepEqual(transit(layout), { host6: 'fdaa:0:0:a7b::1', ns6: 'fdaa:0:0:a7b::2', host4: '172.19.255.1', ns4: '172.19.255.2', gateway4: '172.19.255.254' });
    // Machines recorded without an IPv4 address keep theirs: the same numbering as before, outside the last /24.
    assert.equal(machineIpv4({ privateIp: 'fdaa:0:1:a7b:0:1:0:2' }, layout.ipv4Range), '172.19.0.1');
    assert.equal(derivedIpv4('fdaa:0:1f:a7b:0:feff:0:2', layout.ipv4Range), '172.19.254.255');
    assert.equal(derivedIpv4('fdaa:0:1f:a7b:0:ff00:0:2', layout.ipv4Range), '172.19.0.0');
    assert.equal(derivedIpv4('fdaa:0:1f:a7b:1:0:0:2', layout.ipv4Range), '172.19.1.0');
    assert.equal(machineIpv4({ privateIp: 'fdaa:0:1:a7b:0:1:0:2', privateIpv4: '172.19.0.7' }, layout.ipv4Range), '172.19.0.7', 'the recorded one');
  });

  it('gives other namespaces their own host number, veth and addresses', () => {
    const other = layoutOf('hgr-test-1234', defaultHostNumber('hgr-test-1234'), parseIpv4Range('172.20.16.0/20'));
    assert.notEqual(other.hostNumber, 0xa7b);
    assert.equal(other.hostVeth.length <= 15, true);
    assert.notEqual(hostVethName('hgr-test-1234'), hostVethName('hgr-test-1235'), 'long names do not collide');
    assert.equal(hostVethName('hangar'), 'hgr-hangar');
    assert.deepEqual(transit(other), {
      host6: `fdaa:0:0:${other.hostNumber.toString(16)}::1`, ns6: `fdaa:0:0:${other.hostNumber.toString(16)}::2`,
      host4: '172.20.31.1', ns4: '172.20.31.2', gateway4: '172.20.31.254',
    });
    assert.equal(derivedIpv4('fdaa:0:1:1234:0:f00:0:2', other.ipv4Range), '172.20.16.0', 'wraps after 3840 machines');
    assert.throws(() => parseIpv4Range('172.20.16.0/24'), /\/8 to \/23/);
    assert.throws(() => parseIpv4Range('172.20.16.1/20'), /host bits/);
  });

  it('writes addresses as ip prints them', () => {
    assert.equal(canonicalAddress('fdaa:0:1:a7b:1:0:0:2'), 'fdaa:0:1:a7b:1::2');
    assert.equal(canonicalAddress('fdaa:0:0:a7b:0:0:0:1'), 'fdaa:0:0:a7b::1');
    assert.equal(canonicalAddress('fdaa:0:1:a7b:0:5:0:2'), 'fdaa:0:1:a7b:0:5:0:2');
    assert.equal(appPrefix('fdaa:0:1f:a7b:0:3:0:2'), 'fdaa:0:1f::/48');
  });
});

describe('network plan', () => {
  it('gives each machine a routed TAP, a host route and its app\'s firewall element', () => {
    assert.equal(tapName('73d8d46dbee589'), TAP);
    assert.equal(tapNameHolder('73d8d46dbee5ff', ['0123456789abcd', '73d8d46dbee589']), '73d8d46dbee589', 'the first 12 characters are the same');
    assert.equal(tapNameHolder('73d8d46dbee589', ['73d8d46dbee589', '73d8d46dbee689']), undefined, 'a machine does not clash with itself');
    assert.equal(guestMac('73d8d46dbee589'), '02:73:d8:d4:6d:be');
    assert.deepEqual(machineLinkSetup(layout, machine), [
      ['ip', '-n', 'hangar', 'tuntap', 'add', 'dev', TAP, 'mode', 'tap'],
      ['ip', '-n', 'hangar', '-6', 'addr', 'add', 'fe80::1/64', 'dev', TAP, 'nodad'],
      ['ip', '-n', 'hangar', 'addr', 'add', '172.19.255.254/32', 'dev', TAP],
      ['ip', '-n', 'hangar', 'link', 'set', TAP, 'address', '06:73:d8:d4:6d:be', 'up'],
      ['ip', '-n', 'hangar', '-6', 'route', 'replace', 'fdaa:0:1:a7b:0:5:0:2/128', 'dev', TAP],
      ['ip', '-n', 'hangar', 'route', 'replace', '172.19.0.5/32', 'dev', TAP],
      ['ip', '-6', 'route', 'replace', 'fdaa:0:1:a7b:0:5:0:2/128', 'via', 'fdaa:0:0:a7b::2', 'dev', 'hgr-hangar'],
      ['ip', 'netns', 'exec', 'hangar', 'nft', 'add', 'element', 'inet', 'hangar', 'same_app', '{ fdaa:0:1::/48 . fdaa:0:1::/48 }'],
    ]);
    const recorded = { ...machine, privateIpv4: '172.19.0.9' };
    assert.deepEqual(machineLinkSetup(layout, recorded)[5], ['ip', '-n', 'hangar', 'route', 'replace', '172.19.0.9/32', 'dev', TAP], 'a machine\'s recorded address');
    assert.deepEqual(repairs({ ...desired, links: [recorded] }, healthy()).map((repair) => repair.what), [
      `route 172.19.0.9/32 dev ${TAP} set in hangar`, `stale route 172.19.0.5/32 dev ${TAP} removed from hangar`,
    ], 'converging routes the recorded address, not the one the number gives');
    assert.deepEqual(machineLinkTeardown(layout, machine.machineId, machine.privateIp, true), [
      { argv: ['ip', '-n', 'hangar', 'link', 'del', TAP], tolerant: true },
      { argv: ['ip', '-6', 'route', 'del', 'fdaa:0:1:a7b:0:5:0:2/128', 'via', 'fdaa:0:0:a7b::2', 'dev', 'hgr-hangar'], tolerant: true },
      { argv: ['ip', 'netns', 'exec', 'hangar', 'nft', 'delete', 'element', 'inet', 'hangar', 'same_app', '{ fdaa:0:1::/48 . fdaa:0:1::/48 }'], tolerant: true },
    ]);
  });

  it('tears a namespace down by its veth, never by a prefix another namespace might hold', () => {
    assert.deepEqual(namespaceTeardown(layout), [
      { argv: ['ip', 'link', 'del', 'hgr-hangar'], tolerant: true },
      { argv: ['ip', 'netns', 'del', 'hangar'], tolerant: true },
      { argv: ['nft', 'delete', 'table', 'ip', 'hangar_nat_hangar'], tolerant: true },
    ]);
  });

  it('replaces its tables whole: the firewall with the live apps, NAT for its own range', () => {
    const rules = isolationRuleset(['fdaa:0:1::/48'], 'fdaa:0:0:a7b::1');
    assert.match(rules, /^table inet hangar \{\}\ndelete table inet hangar\ntable inet hangar \{/);
    assert.match(rules, /elements = \{ fdaa:0:1::\/48 \. fdaa:0:1::\/48 \}/);
    assert.match(rules, /policy drop;\n {4}fib saddr \. iif oif missing drop\n {4}iifname "hgrv0" accept\n {4}oifname "hgrv0" accept\n {4}ip6 saddr \. ip6 daddr @same_app accept/);
    assert.match(rules, /type nat hook prerouting priority dstnat; policy accept;\n {4}ip6 daddr fdaa::3 udp dport 53 dnat ip6 to \[fdaa:0:0:a7b::1\]:53\n {4}ip6 daddr fdaa::3 tcp dport 53 dnat ip6 to \[fdaa:0:0:a7b::1\]:53\n/);
    assert.match(natRuleset(layout), /ip saddr 172\.19\.0\.0\/16 oifname != "hgr-hangar" masquerade/);
  });
});

describe('network convergence', () => {
  it('builds everything on a bare host', () => {
    const bare: Observed = { host: { links: healthy().host.links.slice(0, 1), routes: healthy().host.routes.filter((r) => r.dev === 'eth0') } };
    const planned = repairs({ ...desired, firewallShape: undefined }, bare);
    assert.deepEqual(planned.map((r) => r.what), [
      'namespace hangar created',
      'veth hgr-hangar ↔ hgrv0 created',
      'veth up',
      'address fdaa:0:0:a7b::1/64 added to hgr-hangar',
      'address 172.19.255.1/30 added to hgr-hangar',
      'address fdaa:0:0:a7b::2/64 added to hgrv0',
      'address 172.19.255.2/30 added to hgrv0',
      'net.ipv6.conf.all.forwarding turned on in hangar',
      'net.ipv4.ip_forward turned on in hangar',
      'firewall loaded',
      'route unreachable fdaa::/16 set',
      'route 172.19.0.0/16 via 172.19.255.2 dev hgr-hangar set',
      'route fdaa:0:1:a7b:0:5:0:2/128 via fdaa:0:0:a7b::2 dev hgr-hangar set',
      `TAP ${TAP} created`,
      `address fe80::1/64 added to ${TAP}`,
      `address 172.19.255.254/32 added to ${TAP}`,
      `TAP ${TAP} up`,
      `route fdaa:0:1:a7b:0:5:0:2/128 dev ${TAP} set in hangar`,
      `route 172.19.0.5/32 dev ${TAP} set in hangar`,
    ]);
    assert.deepEqual(planned.flatMap((r) => r.steps).slice(0, 9), [
      ['ip', 'netns', 'add', 'hangar'],
      ['ip', '-n', 'hangar', 'link', 'set', 'lo', 'up'],
      { argv: ['ip', 'link', 'del', 'hgr-hangar'], tolerant: true },
      ['ip', 'link', 'add', 'hgr-hangar', 'type', 'veth', 'peer', 'name', 'hgrv0', 'netns', 'hangar'],
      ['ip', 'link', 'set', 'hgr-hangar', 'up'],
      ['ip', '-n', 'hangar', 'link', 'set', 'hgrv0', 'up'],
      ['ip', '-6', 'addr', 'add', 'fdaa:0:0:a7b::1/64', 'dev', 'hgr-hangar', 'nodad'],
      ['ip', 'addr', 'add', '172.19.255.1/30', 'dev', 'hgr-hangar'],
      ['ip', '-n', 'hangar', '-6', 'addr', 'add', 'fdaa:0:0:a7b::2/64', 'dev', 'hgrv0', 'nodad'],
    ]);
    assert.deepEqual(planned.find((r) => r.what === 'route unreachable fdaa::/16 set')?.steps,
      [['ip', '-6', 'route', 'replace', 'unreachable', 'fdaa::/16', 'metric', '4294967295']]);
    assert.deepEqual(planned.find((r) => r.what === 'firewall loaded')?.steps,
      [{ argv: ['ip', 'netns', 'exec', 'hangar', 'nft', '-f', '-'], input: isolationRuleset(['fdaa:0:1::/48'], 'fdaa:0:0:a7b::1') }]);
  });

  it('does nothing on a healthy host', () => {
    assert.deepEqual(repairs(desired, healthy()), []);
  });

  it('repairs what another namespace or a person changed, and removes what no machine needs', () => {
    const drifted = healthy();
    // Another namespace replaced the range's route; someone deleted the machine's route and the transit address;
    // a TAP and a same-app element outlived their machine; an older hangar's transit address is still there.
    drifted.host.routes = drifted.host.routes.map((r) => (r.dst === '172.19.0.0/16' ? { ...r, gateway: '172.19.255.6', dev: 'hgr-other' } : r))
      .filter((r) => r.dst !== 'fdaa:0:1:a7b:0:5:0:2/128');
    const veth = drifted.host.links[1]!;
    veth.addresses = ['172.19.255.1/30', 'fdaa:ffff::1/64'];
    drifted.ns!.links.push({ name: 'hgr0123456789ab', up: true, addresses: [] });
    drifted.ns!.routes.push({ family: 4, dst: '172.19.0.9/32', dev: 'hgr0123456789ab' });
    drifted.ns!.firewall = { shape: 'loaded', apps: ['fdaa:0:1::/48', 'fdaa:0:2::/48'], sources: [] };
    drifted.ns!.forwarding['net.ipv4.ip_forward'] = false;
    assert.deepEqual(repairs(desired, drifted).map((r) => [r.what, r.steps]), [
      ['address fdaa:0:0:a7b::1/64 added to hgr-hangar', [['ip', '-6', 'addr', 'add', 'fdaa:0:0:a7b::1/64', 'dev', 'hgr-hangar', 'nodad']]],
      ['address fdaa:ffff::1/64 removed from hgr-hangar', [['ip', 'addr', 'del', 'fdaa:ffff::1/64', 'dev', 'hgr-hangar']]],
      ['net.ipv4.ip_forward turned on in hangar', [['ip', 'netns', 'exec', 'hangar', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']]],
      ['same-app element fdaa:0:2::/48 removed', [['ip', 'netns', 'exec', 'hangar', 'nft', 'delete', 'element', 'inet', 'hangar', 'same_app', '{ fdaa:0:2::/48 . fdaa:0:2::/48 }']]],
      ['route 172.19.0.0/16 via 172.19.255.2 dev hgr-hangar set', [['ip', 'route', 'replace', '172.19.0.0/16', 'via', '172.19.255.2', 'dev', 'hgr-hangar']]],
      ['route fdaa:0:1:a7b:0:5:0:2/128 via fdaa:0:0:a7b::2 dev hgr-hangar set',
        [['ip', '-6', 'route', 'replace', 'fdaa:0:1:a7b:0:5:0:2/128', 'via', 'fdaa:0:0:a7b::2', 'dev', 'hgr-hangar']]],
      ['stale TAP hgr0123456789ab removed', [['ip', '-n', 'hangar', 'link', 'del', 'hgr0123456789ab']]],
    ]);
  });

  it('leaves machine links alone until it knows which machines live, and reloads a firewall it did not load', () => {
    const observed = healthy();
    observed.ns!.links.push({ name: 'hgr0123456789ab', up: true, addresses: [] });
    observed.host.routes = observed.host.routes.filter((r) => r.dst !== 'fdaa:0:1:a7b:0:5:0:2/128');
    const planned = repairs({ layout, outboundNat: false }, observed);
    assert.deepEqual(planned.map((r) => r.what), ['firewall loaded']);
    assert.deepEqual(planned[0]?.steps, [{ argv: ['ip', 'netns', 'exec', 'hangar', 'nft', '-f', '-'], input: isolationRuleset(['fdaa:0:1::/48'], 'fdaa:0:0:a7b::1') }]);
  });

  it('turns outbound NAT on and off', () => {
    const on = repairs({ ...desired, outboundNat: true }, { ...healthy(), host: { ...healthy().host, ipForward: false } });
    assert.deepEqual(on.map((r) => [r.what, r.steps]), [
      ['net.ipv4.ip_forward turned on on the host (outbound NAT)', [['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']]],
      ['route default via 172.19.255.1 dev hgrv0 set in hangar (outbound NAT)', [['ip', '-n', 'hangar', 'route', 'replace', 'default', 'via', '172.19.255.1', 'dev', 'hgrv0']]],
      ['outbound NAT table loaded', [{ argv: ['nft', '-f', '-'], input: natRuleset(layout) }]],
    ]);
    const natOn = healthy();
    natOn.host.nat = 'shape';
    natOn.ns!.routes.push({ family: 4, dst: 'default', gateway: '172.19.255.1', dev: 'hgrv0' });
    assert.deepEqual(repairs(desired, natOn).map((r) => [r.what, r.steps]), [
      ['route default via 172.19.255.1 dev hgrv0 removed from hangar (outbound NAT is off)',
        [{ argv: ['ip', '-n', 'hangar', 'route', 'del', 'default', 'via', '172.19.255.1', 'dev', 'hgrv0'], tolerant: true }]],
      ['outbound NAT table removed (outbound NAT is off)', [{ argv: ['nft', 'delete', 'table', 'ip', 'hangar_nat_hangar'], tolerant: true }]],
    ]);
  });
});

describe('network identity', () => {
  const hostWith = (extra: Partial<ObservedHost> = {}): ObservedHost => ({ links: [...healthy().host.links, ...(extra.links ?? [])], routes: [...healthy().host.routes, ...(extra.routes ?? [])] });

  it('sees another hangar\'s claims', () => {
    const other = layoutOf('other', 0xa7b, parseIpv4Range('172.19.0.0/20'));
    assert.deepEqual(conflicts(other, hostWith()), [
      'host number a7b is taken: hgr-hangar holds fdaa:0:0:a7b::1/64',
      'IPv4 range 172.19.0.0/20 overlaps the host\'s route 172.19.0.0/16 via 172.19.255.2 dev hgr-hangar',
    ]);
    assert.deepEqual(conflicts(layout, hostWith()), [], 'its own veth is no conflict');
  });

  it('steps a derived default over what is taken, and refuses what was asked for or stored', () => {
    const host = hostWith({
      links: [{ name: 'hgr-x', up: true, addresses: [`fdaa:0:0:${defaultHostNumber('mine').toString(16)}::1/64`] }],
      routes: [{ family: 4, dst: formatIpv4Range(chooseLayout({ ns: 'mine' }, hostWith()).ipv4Range), dev: 'br-docker', protocol: 'kernel' }],
    });
    const chosen = chooseLayout({ ns: 'mine' }, host);
    assert.equal(chosen.hostNumber, defaultHostNumber('mine') + 1);
    assert.notEqual(formatIpv4Range(chosen.ipv4Range), formatIpv4Range(chooseLayout({ ns: 'mine' }, hostWith()).ipv4Range));
    assert.deepEqual(conflicts(chosen, host), []);
    assert.throws(() => chooseLayout({ ns: 'mine', ipv4Range: parseIpv4Range('172.19.0.0/16') }, host), /overlaps .*choose another with --ipv4-range/);
    assert.throws(() => chooseLayout({ ns: 'mine', hostNumber: 0xa7b }, host), /host number a7b is taken.*--host-number/);
    assert.throws(() => chooseLayout({ ns: 'mine', hostNumber: 5, stored: { hostNumber: 6, ipv4Range: chosen.ipv4Range } }, host), /use host number 6, not 5/);
    assert.equal(chooseLayout({ ns: 'hangar' }, hostWith()).hostNumber, 0xa7b, 'a restart keeps its own');
  });
});

describe('network observation', () => {
  it('reads ip and nft JSON', () => {
    assert.deepEqual(parseLinks([{ ifname: 'hgrv0', flags: ['BROADCAST', 'UP'], addr_info: [{ local: 'fdaa:0:0:a7b::2', prefixlen: 64 }, { local: '172.19.255.2', prefixlen: 30 }] }]),
      [{ name: 'hgrv0', up: true, addresses: ['fdaa:0:0:a7b::2/64', '172.19.255.2/30'] }]);
    assert.deepEqual(parseRoutes([
      { dst: 'fdaa:0:1:a7b:0:1:0:2', gateway: 'fdaa:0:0:a7b::2', dev: 'hgr-hangar', metric: 1024, flags: [] },
      { type: 'unreachable', dst: 'fdaa::/16', dev: 'lo', metric: 4294967295, flags: [] },
    ], 6), [
      { family: 6, dst: 'fdaa:0:1:a7b:0:1:0:2/128', gateway: 'fdaa:0:0:a7b::2', dev: 'hgr-hangar', metric: 1024 },
      { family: 6, dst: 'fdaa::/16', type: 'unreachable', dev: 'lo', metric: 4294967295 },
    ]);
    const table = (handle: number, elem: unknown[]) => ({ nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'hangar', handle } },
      { set: { family: 'inet', name: 'same_app', table: 'hangar', handle: handle + 1, elem } },
      { chain: { family: 'inet', table: 'hangar', name: 'forward', handle: handle + 2, policy: 'drop' } },
    ] });
    const elem = { concat: [{ prefix: { addr: 'fdaa:0:1::', len: 48 } }, { prefix: { addr: 'fdaa:0:1::', len: 48 } }] };
    const first = parseNftTable(table(1, [elem]));
    assert.deepEqual(first.apps, ['fdaa:0:1::/48']);
    assert.equal(parseNftTable(table(7, [])).shape, first.shape, 'handles and elements are not part of the shape');
  });
});

describe('the private network across hosts, in the namespace', () => {
  const LINK = 'hgw-hangar';
  const meshed = (prefixes: string[], via?: string): Desired => ({ ...desired, mesh: { link: LINK, routes: prefixes.map((prefix) => ({ prefix, ...(via ? { via } : {}) })) } });

  it('takes from other hosts only their machines\' /64s and only to the same app, or their own address (edge proxy) to a machine here, counting each drop', () => {
    const rules = isolationRuleset(['fdaa:0:1::/48'], 'fdaa:0:0:a7b::1', { link: LINK, sources: ['fdaa:0:1:2::/64'] });
    assert.match(rules, /set peer_sources \{\n {4}type ipv6_addr\n {4}flags interval\n {4}elements = \{ fdaa:0:1:2::\/64 \}\n {2}\}/);
    assert.match(rules, new RegExp([
      'policy drop;',
      'oifname "hgw-hangar" tcp flags & \\(syn \\| rst\\) == syn tcp option maxseg size set rt mtu',
      'iifname "hgw-hangar" ip6 saddr != @peer_sources counter name dropped_source drop',
      'iifname "hgw-hangar" ct state established,related accept',
      'iifname "hgw-hangar" ip6 saddr \\. ip6 daddr @same_app accept',
      'iifname "hgw-hangar" ip6 saddr fdaa:0:0::/48 ip6 daddr != fdaa:0:0::/48 oifname != "hgw-hangar" accept',
      'iifname "hgw-hangar" counter name dropped_app drop',
      'fib saddr \\. iif oif missing drop',
      'oifname "hgw-hangar" ct state established,related accept',
      'iifname "hgrv0" accept',
      'oifname "hgrv0" accept',
      'ip6 saddr \\. ip6 daddr @same_app accept',
      'oifname "hgw-hangar" counter name dropped_app drop',
    ].join('\n {4}')));
    assert.doesNotMatch(isolationRuleset([], 'fdaa:0:0:a7b::1'), /peer_sources|hgw/, 'a single host has none of it');
  });

  it('routes the peers\' /64s through the mesh link once it exists, and adds and removes their sources', () => {
    const observed = healthy();
    observed.ns!.firewall!.sources = ['fdaa:0:9:3::/64'];
    assert.deepEqual(repairs(meshed(['fdaa:0:1:2::/64']), observed).map((r) => r.what), [
      'peer source fdaa:0:1:2::/64 added', 'peer source fdaa:0:9:3::/64 removed', 'route fdaa:0:1:2::/64 via fdaa:0:0:a7b::2 dev hgr-hangar set',
    ], 'no route in the namespace before the underlay made the link; the host\'s own (for its edge proxy) goes into the namespace');
    observed.ns!.links.push({ name: LINK, up: true, addresses: [] });
    observed.ns!.routes.push({ family: 6, dst: 'fdaa:0:9:3::/64', dev: LINK, metric: 1024 });
    assert.deepEqual(repairs(meshed(['fdaa:0:1:2::/64']), observed).map((r) => [r.what, r.steps]), [
      ['peer source fdaa:0:1:2::/64 added', [['ip', 'netns', 'exec', 'hangar', 'nft', 'add', 'element', 'inet', 'hangar', 'peer_sources', '{ fdaa:0:1:2::/64 }']]],
      ['peer source fdaa:0:9:3::/64 removed', [['ip', 'netns', 'exec', 'hangar', 'nft', 'delete', 'element', 'inet', 'hangar', 'peer_sources', '{ fdaa:0:9:3::/64 }']]],
      ['route fdaa:0:1:2::/64 via fdaa:0:0:a7b::2 dev hgr-hangar set', [['ip', '-6', 'route', 'replace', 'fdaa:0:1:2::/64', 'via', 'fdaa:0:0:a7b::2', 'dev', 'hgr-hangar']]],
      ['route fdaa:0:1:2::/64 dev hgw-hangar set in hangar', [['ip', '-n', 'hangar', '-6', 'route', 'replace', 'fdaa:0:1:2::/64', 'dev', LINK]]],
      ['stale route fdaa:0:9:3::/64 dev hgw-hangar removed from hangar',
        [{ argv: ['ip', '-n', 'hangar', '-6', 'route', 'del', 'fdaa:0:9:3::/64', 'dev', LINK, 'metric', '1024'], tolerant: true }]],
    ]);
  });

  it('leaves the peers\' routes and sources as they are until it knows the peers (a restart keeps traffic flowing)', () => {
    const observed = healthy();
    observed.ns!.links.push({ name: LINK, up: true, addresses: [] });
    observed.ns!.routes.push({ family: 6, dst: 'fdaa:0:9:3::/64', dev: LINK, metric: 1024 });
    observed.ns!.firewall!.sources = ['fdaa:0:9:3::/64'];
    const unknown: Desired = { ...desired, mesh: { link: LINK } };
    assert.deepEqual(repairs(unknown, observed), []);
    const reloaded = repairs({ ...unknown, firewallShape: undefined }, observed);
    assert.deepEqual(reloaded[0]?.steps, [{ argv: ['ip', 'netns', 'exec', 'hangar', 'nft', '-f', '-'],
      input: isolationRuleset(['fdaa:0:1::/48'], 'fdaa:0:0:a7b::1', { link: LINK, sources: ['fdaa:0:9:3::/64'] }) }], 'a reload keeps the sources');
  });

  it('routes a peer host\'s own address through the link, but not from the host, and keeps the host\'s peer routes until it knows the peers', () => {
    const observed = healthy();
    observed.ns!.links.push({ name: LINK, up: true, addresses: [] });
    observed.ns!.firewall!.sources = ['fdaa:0:0:2::1/128', 'fdaa:0:1:2::/64'];
    observed.ns!.routes.push({ family: 6, dst: 'fdaa:0:1:2::/64', dev: LINK, metric: 1024 });
    observed.host.routes.push({ family: 6, dst: 'fdaa:0:1:2::/64', gateway: 'fdaa:0:0:a7b::2', dev: 'hgr-hangar', metric: 1024 });
    const withHost: Desired = { ...desired, mesh: { link: LINK, routes: [{ prefix: 'fdaa:0:1:2::/64' }, { prefix: 'fdaa:0:0:2::1/128', host: true }] } };
    assert.deepEqual(repairs(withHost, observed).map((r) => r.what), ['route fdaa:0:0:2::1/128 dev hgw-hangar set in hangar']);
    assert.deepEqual(repairs({ ...desired, mesh: { link: LINK } }, observed), [], 'peers unknown: the host\'s route to a peer\'s /64 stays');
    assert.deepEqual(repairs({ ...desired, mesh: { link: LINK, routes: [] } }, observed).map((r) => r.what), [
      'peer source fdaa:0:0:2::1/128 removed', 'peer source fdaa:0:1:2::/64 removed',
      'stale route fdaa:0:1:2::/64 via fdaa:0:0:a7b::2 dev hgr-hangar removed', 'stale route fdaa:0:1:2::/64 dev hgw-hangar removed from hangar',
    ]);
  });

  it('routes by a gateway on the link where the underlay needs one', () => {
    const observed = healthy();
    observed.ns!.links.push({ name: LINK, up: true, addresses: [] });
    observed.ns!.firewall!.sources = ['fdaa:0:1:2::/64'];
    assert.deepEqual(repairs(meshed(['fdaa:0:1:2::/64'], 'fe80::2'), observed).map((r) => r.steps), [
      [['ip', '-6', 'route', 'replace', 'fdaa:0:1:2::/64', 'via', 'fdaa:0:0:a7b::2', 'dev', 'hgr-hangar']],
      [['ip', '-n', 'hangar', '-6', 'route', 'replace', 'fdaa:0:1:2::/64', 'via', 'fe80::2', 'dev', LINK]],
    ]);
  });

  it('reads the peers\' sources from the table, and no counter\'s value into its shape', () => {
    const table = (packets: number) => ({ nftables: [
      { table: { family: 'inet', name: 'hangar', handle: 1 } },
      { counter: { family: 'inet', name: 'dropped_app', table: 'hangar', handle: 2, packets, bytes: packets * 80 } },
      { set: { family: 'inet', name: 'peer_sources', table: 'hangar', handle: 3, elem: [{ prefix: { addr: 'fdaa:0:1:2::', len: 64 } }] } },
    ] });
    assert.deepEqual(parseNftTable(table(0)).sources, ['fdaa:0:1:2::/64']);
    assert.equal(parseNftTable(table(9)).shape, parseNftTable(table(0)).shape);
  });
});
