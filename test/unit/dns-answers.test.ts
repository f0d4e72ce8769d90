import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MachineRecord } from '../../src/domain/machine.ts';
import { answerQuestion, type Asker, type DnsDirectory, type DnsMachine, TTL } from '../../src/network/dns/answers.ts';
import { directoryMachineOf, dnsView } from '../../src/network/dns/directory.ts';
import { app, machine } from '../helpers/store-fixtures.ts';

const m = (id: string, app: string, region: string, hostId: string, processGroup?: string): DnsMachine =>
  ({ id, app, region, hostId, address: `fdaa:0:1:${hostId.length}::${id.slice(-2)}`, ...(processGroup ? { processGroup } : {}) });

const directory: DnsDirectory = {
  apps: new Map([['web', { org: 'acme' }], ['db', { org: 'acme' }], ['idle', { org: 'acme' }], ['theirs', { org: 'other' }]]),
  machines: [
    m('e2e2e2e2e2e201', 'web', 'syd', 'syd-1', 'app'),
    m('a1a1a1a1a1a102', 'web', 'fra', 'fra-2', 'worker'),
    m('c3c3c3c3c3c303', 'web', 'fra', 'fra-1', 'app'),
    m('d4d4d4d4d4d404', 'db', 'fra', 'fra-2'),
    m('f5f5f5f5f5f505', 'theirs', 'fra', 'fra-1'),
  ],
};
const asker: Asker = { org: 'acme', hostId: 'fra-1', region: 'fra' };
const ask = (name: string, type = 'AAAA', who = asker) => answerQuestion({ name, type }, who, directory);
const addresses = (name: string, who = asker) => ask(name, 'AAAA', who).answers.map((r) => r.data);
const text = (name: string) => ask(name, 'TXT').answers.map((r) => r.data);
const address = (id: string) => directory.machines.find((x) => x.id === id)?.address;

describe('private DNS answers (.internal)', () => {
  it('answers an app\'s started machines, nearest first: this host, this region, then the rest', () => {
    const web = addresses('web.internal');
    assert.deepEqual(web, [address('c3c3c3c3c3c303'), address('a1a1a1a1a1a102'), address('e2e2e2e2e2e201')]);
    assert.deepEqual(addresses('global.web.internal'), web);
    assert.deepEqual(addresses('WEB.Internal.'), web, 'names are case-blind, a trailing dot is the root');
    assert.deepEqual(addresses('web.internal', { org: 'acme', hostId: 'syd-1', region: 'syd' })[0], address('e2e2e2e2e2e201'));
    const [record] = ask('web.internal').answers;
    assert.deepEqual({ name: record?.name, type: record?.type, ttl: record?.ttl }, { name: 'web.internal', type: 'AAAA', ttl: TTL });
  });

  it('answers a region, one machine, a process group and the nearest N', () => {
    assert.deepEqual(addresses('fra.web.internal'), [address('c3c3c3c3c3c303'), address('a1a1a1a1a1a102')]);
    assert.deepEqual(addresses('e2e2e2e2e2e201.vm.web.internal'), [address('e2e2e2e2e2e201')]);
    assert.deepEqual(addresses('worker.process.web.internal'), [address('a1a1a1a1a1a102')]);
    assert.deepEqual(addresses('top1.nearest.of.web.internal'), [address('c3c3c3c3c3c303')]);
    assert.deepEqual(addresses('top2.nearest.of.web.internal'), [address('c3c3c3c3c3c303'), address('a1a1a1a1a1a102')]);
    assert.equal(addresses('top999.nearest.of.web.internal').length, 3);
  });

  it('answers the TXT names: the organization\'s apps, its machines, an app\'s machines and regions', () => {
    assert.deepEqual(text('_apps.internal'), ['db,idle,web']);
    assert.deepEqual(text('_instances.internal'), [[
      `instance=a1a1a1a1a1a102,app=web,ip=${address('a1a1a1a1a1a102')},region=fra`,
      `instance=c3c3c3c3c3c303,app=web,ip=${address('c3c3c3c3c3c303')},region=fra`,
      `instance=d4d4d4d4d4d404,app=db,ip=${address('d4d4d4d4d4d404')},region=fra`,
      `instance=e2e2e2e2e2e201,app=web,ip=${address('e2e2e2e2e2e201')},region=syd`,
    ].join(';')]);
    assert.deepEqual(text('vms.web.internal'), ['a1a1a1a1a1a102 fra,c3c3c3c3c3c303 fra,e2e2e2e2e2e201 syd']);
    assert.deepEqual(text('regions.web.internal'), ['fra,syd']);
    assert.deepEqual(text('regions.idle.internal'), [''], 'an app with no started machine is there, with none');
  });

  it('answers a name of the other type with no records, and a name that names nothing with NXDOMAIN', () => {
    assert.deepEqual(ask('web.internal', 'TXT'), { rcode: 'NOERROR', answers: [] });
    assert.deepEqual(ask('_apps.internal', 'AAAA'), { rcode: 'NOERROR', answers: [] });
    assert.deepEqual(ask('web.internal', 'A'), { rcode: 'NOERROR', answers: [] }, 'no IPv4 over 6PN');
    assert.deepEqual(ask('idle.internal'), { rcode: 'NOERROR', answers: [] });
    for (const name of ['ams.web.internal', 'ffffffffffffff.vm.web.internal', 'nobody.process.web.internal', 'top0.nearest.of.web.internal',
      'top2.farthest.of.web.internal', 'a.b.c.d.web.internal', 'x.vm.web.internal']) {
      assert.equal(ask(name).rcode, 'NXDOMAIN', name);
    }
  });

  it('refuses everything outside the asker\'s organization and outside .internal, and does not do ANY', () => {
    for (const name of ['theirs.internal', 'fra.theirs.internal', 'f5f5f5f5f5f505.vm.theirs.internal', 'nosuch.internal', 'example.com', 'internal',
      '.internal', 'web..internal', '__proto__.internal', 'constructor.internal', 'web.internal.evil.com']) {
      assert.equal(ask(name).rcode, 'REFUSED', name);
    }
    assert.equal(ask('web.internal', 'ANY').rcode, 'NOTIMP');
    assert.ok(!text('_instances.internal')[0]?.includes('theirs'), 'another organization\'s machines are not listed');
    assert.deepEqual(answerQuestion({ name: '_apps.internal', type: 'TXT' }, { org: 'other', hostId: 'fra-1', region: 'fra' }, directory).answers.map((r) => r.data), ['theirs']);
  });
});

describe('what the private DNS answers from', () => {
  const apps = [app('web'), app('theirs', 'other')].map((a) => ({ ...a, netNumber: 1, deleting: false }));
  let n = 0;
  const on = (id: string, hostId: string, state: MachineRecord['state'], config: Record<string, unknown> = {}) =>
    machine({ id, appName: id.startsWith('t') ? 'theirs' : 'web', hostId, state, region: 'fra', privateIp: `fdaa:0:1:a7b:0:${++n}:0:2` }, config);
  const here = on('w-here', 'h1', 'started', { metadata: { fly_process_group: 'app' } });
  const hidden = on('w-hidden', 'h1', 'started', { dns: { skip_registration: true } });
  const stopped = on('w-stopped', 'h1', 'stopped');
  const away = on('w-away', 'h2', 'started');
  const theirs = on('t-here', 'h1', 'started');
  const view = dnsView(apps, [here, hidden, stopped, away, theirs].map((m) => directoryMachineOf(m, 'h1')), 'h1');

  it('answers for started machines not kept out, on every host, with their process group', () => {
    assert.deepEqual(view.directory.machines.map((m) => [m.id, m.hostId, m.processGroup]), [['w-here', 'h1', 'app'], ['w-away', 'h2', undefined], ['t-here', 'h1', undefined]]);
    assert.equal(view.directory.apps.get('theirs')?.org, 'other');
  });

  it('knows who asks by the address of a machine of this host, written any way', () => {
    assert.deepEqual(view.askerOf(here.privateIp), { org: 'personal', hostId: 'h1', region: 'fra' });
    assert.deepEqual(view.askerOf(hidden.privateIp.toUpperCase()), { org: 'personal', hostId: 'h1', region: 'fra' }, 'kept out of answers, not out of asking');
    assert.equal(view.askerOf(theirs.privateIp)?.org, 'other');
    assert.equal(view.askerOf(away.privateIp), undefined, 'another host\'s machine does not ask here');
    for (const address of ['127.0.0.1', '::ffff:127.0.0.1', 'fdaa::3', 'not an address', '']) assert.equal(view.askerOf(address), undefined, address);
  });
});
