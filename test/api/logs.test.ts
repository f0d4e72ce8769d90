import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, TOKEN, type TestHangar } from '../helpers/hangar.ts';

describe('machine logs', () => {
  let t: TestHangar;
  let url: string;
  before(async () => {
    t = await testHangar();
    await t.hangar.app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(t.hangar.app.server.address() as { port: number }).port}`;
  });
  after(() => t.close());

  it('answers the last lines, follows new ones, and needs the token', async () => {
    const app = await t.app('logged');
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const path = `/hangar/v1/apps/${app}/machines/${m.id}/logs`;
    const tail = await t.hangar.app.inject({ method: 'GET', url: `${path}?tail=10`, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(tail.statusCode, 200);
    assert.match(tail.headers['content-type'] as string, /^text\/plain/);
    assert.equal(tail.body, `fake: booted registry.test/hello:1 (version ${m.instance_id}, boot 1)\n`);

    const controller = new AbortController();
    const response = await fetch(`${url}${path}?tail=0&follow=true`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}/restart`);
    let text = '';
    const deadline = Date.now() + 10_000;
    while (!text.includes('\n') && Date.now() < deadline) text += (await reader.read()).value ?? '';
    controller.abort();
    // tail=0 shows nothing old; the line is the restart's boot.
    assert.match(text, /^fake: booted registry.test\/hello:1 \(version \w+, boot 1\)\n$/);

    assert.equal((await t.hangar.app.inject({ method: 'GET', url: path })).statusCode, 401);
    assert.equal((await t.call('GET', `${path}?tail=-1`)).status, 400);
    assert.equal((await t.call('GET', `/hangar/v1/apps/${app}/machines/ffffffffffffff/logs`)).status, 404);
  });
});
