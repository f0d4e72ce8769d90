/**
 * `/.fly/api` from inside a machine (through the fake driver's connection): no
 * token, the machine's own endpoints only, and a self-suspend that works.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

/** Sends one HTTP/1.1 request over a guest connection and reads the whole answer. */
async function guestRequest(t: TestHangar, machineId: string, method: string, path: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const stream = t.driver.connectGuestApi(machineId);
  let text = '';
  stream.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
  const ended = new Promise((resolve) => stream.on('end', resolve));
  stream.write(`${method} ${path} HTTP/1.1\r\nHost: flaps\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  await ended;
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body: body ? JSON.parse(body) : undefined };
}

describe('/.fly/api inside a machine', () => {
  let t: TestHangar;
  let mine: { id: string };
  let other: { id: string };
  let otherApp: { id: string };

  before(async () => {
    t = await testHangar();
    await t.app('inside');
    await t.app('elsewhere');
    mine = await t.machine('inside');
    other = await t.machine('inside');
    otherApp = await t.machine('elsewhere');
    for (const [app, m] of [['inside', mine], ['inside', other], ['elsewhere', otherApp]] as const) {
      assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
    }
  });

  after(() => t.close());

  it('shows the machine itself without a token', async () => {
    const reply = await guestRequest(t, mine.id, 'GET', `/v1/apps/inside/machines/${mine.id}`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.id, mine.id);
  });

  it('sees and touches no other machine, app or endpoint', async () => {
    const refused = [
      ['GET', `/v1/apps/inside/machines/${other.id}`],
      ['POST', `/v1/apps/inside/machines/${other.id}/stop`],
      ['GET', `/v1/apps/elsewhere/machines/${otherApp.id}`],
      ['GET', `/v1/apps/elsewhere/machines/${mine.id}`],
      ['GET', '/v1/apps/inside/machines'],
      ['GET', '/v1/apps?org_slug=personal'],
      ['GET', '/hangar/v1/apps/inside/machines/x/logs'],
      ['GET', `/v1/apps/inside/machines/${mine.id}%2F..%2F${other.id}`],
      ['GET', `/v1/apps/inside/machines/${mine.id}/../${other.id}`],
      ['POST', `/v1/apps/inside/machines/${mine.id}/../../../../v1/apps/elsewhere/machines/${otherApp.id}/stop`],
      ['GET', `http://flaps/v1/apps/inside/machines/${other.id}`],
      ['GET', `/v%31/apps/inside/machines/${other.id}`],
      ['GET', `/v1/apps/inside/machines/${other.id}?x=/v1/apps/inside/machines/${mine.id}`],
      ['GET', '/metrics'],
      ['GET', '/openapi.json'],
    ];
    for (const [method, path] of refused) {
      const reply = await guestRequest(t, mine.id, method as string, path as string);
      assert.equal(reply.status, 403, `${method} ${path}`);
      assert.match(reply.body.error, new RegExp(`serves only /v1/apps/inside/machines/${mine.id}$`));
    }
    assert.equal((await t.call('GET', `/v1/apps/inside/machines/${other.id}`)).body.state, 'started', 'the other machine is untouched');
  });

  it('suspends the machine itself, as Fly\'s example does', async () => {
    const reply = await guestRequest(t, mine.id, 'POST', `/v1/apps/inside/machines/${mine.id}/suspend`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal((await t.waitFor('inside', mine.id, 'suspended')).status, 200);
    assert.equal(t.driver.vmState(mine.id), 'suspended');
  });
});
