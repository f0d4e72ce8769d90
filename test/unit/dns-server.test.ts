import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Asker, DnsDirectory, DnsMachine } from '../../src/network/dns/answers.ts';
import { DnsServer, respond } from '../../src/network/dns/server.ts';
import { seededRandom } from '../helpers/chaos.ts';

const machines: DnsMachine[] = Array.from({ length: 22 }, (_, i) => ({
  id: `${String(i).padStart(2, '0')}e2e2e2e2e2e2e2`, app: i < 2 ? 'web' : 'many', region: 'fra', hostId: 'h1', address: `fdaa:0:1:1::${(i + 2).toString(16)}`,
}));
const directory: DnsDirectory = { apps: new Map([['web', { org: 'acme' }], ['many', { org: 'acme' }], ['theirs', { org: 'other' }]]), machines };
const asker: Asker = { org: 'acme', hostId: 'h1', region: 'fra' };
const query = (name: string, type: dnsPacket.RecordType = 'AAAA', extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }], ...extra });
const ask = (message: Buffer, who: Asker | 'nobody' = asker) => {
  const reply = respond(message, who === 'nobody' ? undefined : who, () => directory);
  return reply && dnsPacket.decode(reply);
};
const rcodeOf = (packet: dnsPacket.DecodedPacket | undefined) => (packet as { rcode?: string } | undefined)?.rcode;

describe('the private DNS server', () => {
  it('answers over UDP from what the host knows, refusing a source that is no machine of its own', async () => {
    const server = await DnsServer.listen({ host: '127.0.0.1', port: 0 }, {
      askerOf: (address) => (address === '127.0.0.1' ? asker : undefined), directory: () => directory,
    });
    const client = createSocket('udp4');
    try {
      const exchange = (message: Buffer) => new Promise<dnsPacket.DecodedPacket>((resolve) => {
        client.once('message', (reply) => resolve(dnsPacket.decode(reply)));
        client.send(message, server.address().port, '127.0.0.1');
      });
      const web = await exchange(query('web.internal'));
      assert.equal(web.id, 4242);
      assert.equal(rcodeOf(web), 'NOERROR');
      assert.equal(web.flag_aa, true);
      assert.equal(web.flag_rd, true, 'RD echoed');
      assert.equal(web.flag_ra, false, 'no recursion');
      assert.deepEqual(web.answers?.map((a) => [a.type, (a as dnsPacket.StringAnswer).data, (a as dnsPacket.StringAnswer).ttl]), [['AAAA', 'fdaa:0:1:1::2', 5], ['AAAA', 'fdaa:0:1:1::3', 5]]);
      const apps = await exchange(query('_apps.internal', 'TXT'));
      assert.deepEqual(apps.answers?.map((a) => ((a as dnsPacket.TxtAnswer).data as Buffer[]).join('')), ['many,web']);
      assert.equal(rcodeOf(await exchange(query('theirs.internal'))), 'REFUSED');
      assert.equal(rcodeOf(await exchange(query('example.com', 'A'))), 'REFUSED');
    } finally {
      client.close();
      await server.close();
    }
    assert.equal(rcodeOf(ask(query('web.internal'), 'nobody')), 'REFUSED', 'an asker it does not know');
  });

  it('sends an answer too long for plain UDP truncated, and whole to an EDNS asker that takes it', () => {
    const plain = ask(query('many.internal'));
    assert.equal(plain?.flag_tc, true);
    assert.deepEqual(plain?.answers, []);
    const edns = ask(query('many.internal', 'AAAA', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] }));
    assert.equal(edns?.flag_tc, false);
    assert.equal(edns?.answers?.length, 20);
    assert.deepEqual(edns?.additionals?.map((record) => [record.type, (record as { udpPayloadSize?: number }).udpPayloadSize]), [['OPT', 1232]]);
    assert.equal(plain?.additionals?.length, 0, 'a plain asker gets no OPT');
    const instances = ask(query('_instances.internal', 'TXT', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] }));
    assert.equal(instances?.flag_tc, true, 'the 22 machines\' text is more than the 1,232 bytes an answer is kept to');
  });

  it('answers over TCP what UDP truncated, message after message, and hangs up on what it cannot answer', async () => {
    const server = await DnsServer.listen({ host: '127.0.0.1', port: 0 }, { askerOf: () => asker, directory: () => directory });
    try {
      const framed = (message: Buffer) => Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);
      const replies = await new Promise<dnsPacket.DecodedPacket[]>((resolve, reject) => {
        const got: dnsPacket.DecodedPacket[] = [];
        let pending = Buffer.alloc(0);
        const connection = connect(server.address().port, '127.0.0.1', () => {
          connection.write(Buffer.concat([framed(query('many.internal')), framed(query('_apps.internal', 'TXT'))]));
        });
        connection.on('error', reject);
        connection.on('data', (chunk) => {
          pending = Buffer.concat([pending, chunk]);
          while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
            got.push(dnsPacket.decode(pending.subarray(2, 2 + pending.readUInt16BE(0))));
            pending = pending.subarray(2 + pending.readUInt16BE(0));
          }
          if (got.length === 2) {
            connection.end();
            resolve(got);
          }
        });
      });
      assert.equal(replies[0]?.flag_tc, false);
      assert.equal(replies[0]?.answers?.length, 20);
      assert.equal(replies[1]?.answers?.length, 1);
      const closed = await new Promise<boolean>((resolve) => {
        const connection = connect(server.address().port, '127.0.0.1', () => connection.write(Buffer.from([0, 3, 1, 2, 3])));
        connection.on('close', () => resolve(true));
        connection.on('error', () => undefined);
      });
      assert.equal(closed, true, 'a message shorter than a header ends the connection');
    } finally {
      await server.close();
    }
  });

  it('answers bad input with FORMERR, REFUSED or NOTIMP, or not at all, and never throws', () => {
    const header = (flags: number, qd: number) => {
      const bytes = Buffer.alloc(12);
      bytes.writeUInt16BE(7, 0);
      bytes.writeUInt16BE(flags, 2);
      bytes.writeUInt16BE(qd, 4);
      return bytes;
    };
    const label = (text: string) => Buffer.concat([Buffer.from([text.length]), Buffer.from(text)]);
    const question = (name: Buffer) => Buffer.concat([name, Buffer.from([0, 28, 0, 1])]);
    const longName = Buffer.concat([...Array.from({ length: 5 }, () => label('a'.repeat(60))), label('internal'), Buffer.from([0])]);
    const loop = Buffer.concat([header(0, 1), Buffer.from([0xc0, 12, 0, 28, 0, 1])]);
    const cases: Array<[string, Buffer, string | undefined]> = [
      ['shorter than a header', Buffer.from([1, 2, 3]), undefined],
      ['a response', Buffer.concat([header(0x8000, 1), question(Buffer.concat([label('web'), label('internal'), Buffer.from([0])]))]), undefined],
      ['a name over 255 bytes', Buffer.concat([header(0, 1), question(longName)]), 'FORMERR'],
      ['a compression loop', loop, 'FORMERR'],
      ['a pointer forward', Buffer.concat([header(0, 1), Buffer.from([0xc0, 40, 0, 28, 0, 1])]), 'FORMERR'],
      ['a truncated question', query('web.internal').subarray(0, 20), 'FORMERR'],
      ['QDCOUNT 0', header(0, 0), 'FORMERR'],
      ['QDCOUNT 2', dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'AAAA', name: 'web.internal' }, { type: 'TXT', name: '_apps.internal' }] }), 'FORMERR'],
      ['QDCOUNT 2 given, 1 sent', Buffer.concat([header(0, 2), question(Buffer.concat([label('web'), label('internal'), Buffer.from([0])]))]), 'FORMERR'],
      ['ANY', query('web.internal', 'ANY' as dnsPacket.RecordType), 'NOTIMP'],
      ['an inverse query', Buffer.concat([header(1 << 11, 1), question(Buffer.concat([label('web'), label('internal'), Buffer.from([0])]))]), 'NOTIMP'],
      ['an update', Buffer.concat([header(5 << 11, 0)]), 'NOTIMP'],
      ['class CHAOS', dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'TXT', name: 'version.bind', class: 'CH' }] }), 'REFUSED'],
    ];
    for (const [what, message, expected] of cases) {
      const reply = respond(message, asker, () => directory);
      if (expected === undefined) assert.equal(reply, undefined, what);
      else assert.equal(rcodeOf(dnsPacket.decode(reply as Buffer)), expected, what);
    }

    const random = seededRandom(20261205).next;
    const valid = query('web.internal');
    for (let i = 0; i < 20_000; i++) {
      const message = i % 2 === 0 ? Buffer.from(Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256))) : Buffer.from(valid);
      if (i % 2 === 1) for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) message[Math.floor(random() * message.length)] = Math.floor(random() * 256);
      const reply = respond(message, asker, () => directory);
      if (reply === undefined) continue;
      const decoded = dnsPacket.decode(reply);
      assert.ok(['NOERROR', 'FORMERR', 'NXDOMAIN', 'NOTIMP', 'REFUSED'].includes(rcodeOf(decoded) as string), `case ${i}: ${rcodeOf(decoded)}`);
      assert.equal(decoded.id, message.readUInt16BE(0), `case ${i}: the id is the query's`);
    }
  });

  it('answers a source no more than its rate', async () => {
    let now = 0;
    const server = await DnsServer.listen({ host: '127.0.0.1', port: 0 }, { askerOf: () => asker, directory: () => directory, ratePerSecond: 20, now: () => now });
    const client = createSocket('udp4');
    let answered = 0;
    client.on('message', () => { answered++; });
    try {
      const burst = async () => {
        for (let i = 0; i < 100; i++) client.send(query('web.internal'), server.address().port, '127.0.0.1');
        await new Promise((resolve) => setTimeout(resolve, 300));
      };
      await burst();
      assert.equal(answered, 20, 'a burst is answered up to the rate');
      now += 500;
      await burst();
      assert.equal(answered, 30, 'half a second later, half the rate more');
    } finally {
      client.close();
      await server.close();
    }
  });
});
