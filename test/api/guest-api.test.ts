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
async function guestRequest(t: TestHangar, machineId: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const stream = t.driver.connectGuestApi(machineId);
  let text = '';
  stream.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
  const ended = new Promise((resolve) => stream.on('end', resolve));
  const payload = body === undefined ? '' : JSON.stringify(body);
  const type = body === undefined ? '' : 'Content-Type: application/json\r\n';
  stream.write(`${method} ${path} HTTP/1.1\r\nHost: flaps\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
  await ended;
  const [head = '', answer = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body: answer ? JSON.parse(answer) : undefined };
}

describe('/.fly/api inside a machine', () => {
  let t: TestHangar;
  let mine: { id: string };
  let other: { id: string };
  let otherApp: { id: string };

  before(async () => {
    const dns: Record<string, string[]> = { 'allowed.example': ['203.0.113.7'], 'sneaky.example': ['203.0.113.8', '127.0.0.1'], 'inner.example': ['fdaa:0:1:a7b::2'] };
    t = await testHangar({
      settings: { guestImageRegistries: ['allowed.example', 'sneaky.example', 'inner.example', '127.0.0.1:5000', 'localhost:5000', '169.254.169.254'] },
      resolveHost: async (host) => dns[host] ?? [],
    });
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

  it('keeps its image, or takes one from an allowed registry that is not on the host, and nothing else', async () => {
    const self = await t.machine('inside');
    assert.equal((await t.waitFor('inside', self.id, 'started')).status, 200);
    const path = `/v1/apps/inside/machines/${self.id}`;
    const before = (await t.call('GET', path)).body;
    const refused = [
      ['oci:/etc', /host's disk/],
      ['docker-archive:/etc/passwd', /host's disk/],
      ['elsewhere.example/app:1', /not one machines may pull from \(allowed: /],
      ['127.0.0.1:5000/app:1', /on the host/],
      ['localhost:5000/app:1', /on the host/],
      ['169.254.169.254/app:1', /on the host/],
      ['sneaky.example/app:1', /on the host/],
      ['inner.example/app:1', /on the host/],
    ] as const;
    for (const [image, reason] of refused) {
      const reply = await guestRequest(t, self.id, 'POST', path, { config: { image } });
      assert.equal(reply.status, 403, image);
      assert.match(reply.body.error, reason, image);
    }
    assert.equal((await t.call('GET', path)).body.instance_id, before.instance_id, 'no refused update changed the machine');
    const same = await guestRequest(t, self.id, 'POST', path, { config: { image: before.config.image, env: { A: '1' } } });
    assert.equal(same.status, 200, JSON.stringify(same.body));
    await t.waitFor('inside', self.id, 'started');
    const allowed = await guestRequest(t, self.id, 'POST', path, { config: { image: 'allowed.example/app:2' } });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    assert.equal(allowed.body.config.image, 'allowed.example/app:2');
    await t.waitFor('inside', self.id, 'started');
    const operator = await t.call('POST', path, { config: { image: 'oci:/srv/images/web' } });
    assert.equal(operator.status, 200, 'a token holder may use images on the host\'s disk');
  });

  it('shows error texts without host paths', async () => {
    t.driver.failNext('prepare', "ENOENT: no such file or directory, open '/var/lib/hangar/images/build-1/oci-layout'");
    const reply = await t.call('POST', `/v1/apps/inside/machines/${other.id}`, { config: { image: 'oci:/var/lib/images/web' } });
    assert.equal(reply.status, 200);
    await t.waitFor('inside', other.id, 'failed');
    // The events a machine's own /.fly/api shows are these.
    const seen = await t.call('GET', `/v1/apps/inside/machines/${other.id}`);
    const text = JSON.stringify(seen.body.events);
    assert.match(text, /no such file or directory, open '<host path>'/);
    assert.doesNotMatch(text, /\/var\/lib/);
  });
});
