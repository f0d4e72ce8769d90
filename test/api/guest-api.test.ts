/**
 * `/.fly/api` from inside a machine (through the fake driver's connection): no
 * token, the machine's own endpoints only, and a self-suspend that works.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { serveGuestConnection } from '../../src/api/guest-scope.ts';
import { bridgeGuestApi } from '../../src/vmm/qemu/guest-api-bridge.ts';
import type { AgentChannel } from '../../src/vmm/qemu/agent-channel.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

/** A keep-alive request (as curl sends), its sender then done writing (shutdown(SHUT_WR), `nc -N`). */
const halfClosedRequest = (path: string) => `GET ${path} HTTP/1.1\r\nHost: flaps\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n`;

/**
 * The host end of a real machine's /.fly/api without the VM: the bridge over a
 * stand-in for the agent channel, which records what goes back to the guest.
 */
function bridgedConnection(t: TestHangar, machine: { app: string; id: string }) {
  const agent = new EventEmitter() as EventEmitter & { sent: string; closed: boolean };
  agent.sent = '';
  agent.closed = false;
  const done = new Promise<void>((resolve) => {
    Object.assign(agent, {
      apiSend: (_connection: number, data: Buffer) => { agent.sent += data.toString('utf8'); },
      apiClose: () => { agent.closed = true; resolve(); },
    });
  });
  bridgeGuestApi(agent as unknown as AgentChannel, { appName: machine.app, machineId: machine.id }, () => (guest, stream) => serveGuestConnection(t.hangar.app, guest, stream));
  return { agent, done };
}

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

  it('answers a client that half-closes once it has sent its request', async () => {
    const stream = t.driver.connectGuestApi(mine.id);
    let text = '';
    stream.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
    const ended = new Promise((resolve) => stream.on('end', resolve));
    stream.end(halfClosedRequest(`/v1/apps/inside/machines/${mine.id}`));
    await ended;
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.equal(JSON.parse(text.split('\r\n\r\n')[1] ?? '').id, mine.id);
  });

  it('answers a half-closed client through the bridge a real machine uses, then closes', async () => {
    const { agent, done } = bridgedConnection(t, { app: 'inside', id: mine.id });
    agent.emit('api-open', 7);
    agent.emit('api-data', 7, Buffer.from(halfClosedRequest(`/v1/apps/inside/machines/${mine.id}`)));
    agent.emit('api-close', 7); // the client is done writing
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`no end of answer; got ${JSON.stringify(agent.sent)}`)), 2000))]);
    assert.match(agent.sent, /^HTTP\/1\.1 200 /);
    assert.equal(JSON.parse(agent.sent.split('\r\n\r\n')[1] ?? '').id, mine.id);
  });

  it('suspends the machine itself, as Fly\'s example does', async () => {
    const reply = await guestRequest(t, mine.id, 'POST', `/v1/apps/inside/machines/${mine.id}/suspend`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal((await t.waitFor('inside', mine.id, 'suspended')).status, 200);
    assert.equal(t.driver.vmState(mine.id), 'suspended');
  });
});
