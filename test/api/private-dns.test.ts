/**
 * The private DNS in an assembled hangar (role all): it answers from the hangar's
 * own machines, refuses a source that is none of them, and a port it cannot take
 * costs the machines their answers, not the hangar its start.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import pino from 'pino';
import { testHangar } from '../helpers/hangar.ts';

describe('the private DNS of a hangar', () => {
  it('starts without it when its port is taken, and says so', async () => {
    const holder = createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => { lines.push(line); } });
    const t = await testHangar({ privateDns: { host: '127.0.0.1', port: holder.address().port }, logger });
    try {
      assert.equal((await t.call('GET', '/v1/apps?org_slug=personal')).status, 200);
      assert.ok(lines.some((line) => line.includes('private DNS: cannot listen there')), lines.join('\n'));
    } finally {
      await t.close();
      holder.close();
    }
  });

  it('refuses a question from an address that is no machine of the hangar', async () => {
    // A free port: taken and let go, for the hangar to take (again, should another test take it meanwhile).
    let port = 0;
    let t: Awaited<ReturnType<typeof testHangar>> | undefined;
    for (let attempt = 0; attempt < 5 && !t; attempt++) {
      const probe = createSocket('udp4');
      await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
      port = probe.address().port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const lines: string[] = [];
      const started = await testHangar({ privateDns: { host: '127.0.0.1', port }, logger: pino({ level: 'error' }, { write: (line: string) => { lines.push(line); } }) });
      if (lines.some((line) => line.includes('cannot listen'))) await started.close();
      else t = started;
    }
    assert.ok(t, 'the private DNS found a free port');
    const client = createSocket('udp4');
    try {
      assert.equal((await t.call('POST', '/v1/apps', { name: 'web', org_slug: 'personal' })).status, 201);
      // Asked again every 200 ms (UDP may drop one), given up after 10 s: a test never hangs on a DNS that does not answer.
      const query = dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'TXT', name: '_apps.internal' }] });
      const reply = await new Promise<dnsPacket.DecodedPacket>((resolve, reject) => {
        const again = setInterval(() => client.send(query, port, '127.0.0.1'), 200);
        const giveUp = setTimeout(() => {
          clearInterval(again);
          reject(new Error(`no answer from the private DNS on 127.0.0.1:${port} within 10 s`));
        }, 10_000);
        client.once('message', (message) => {
          clearInterval(again);
          clearTimeout(giveUp);
          resolve(dnsPacket.decode(message));
        });
        client.send(query, port, '127.0.0.1');
      });
      assert.equal((reply as { rcode?: string }).rcode, 'REFUSED');
      assert.deepEqual(reply.answers, []);
    } finally {
      client.close();
      await t.close();
    }
  });
});
