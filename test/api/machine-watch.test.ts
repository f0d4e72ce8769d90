/**
 * `GET /hangar/v1/apps/{app}/machines/watch` (the console's live view) and the
 * console's files: a snapshot, then each change as it is committed; refusals for a
 * missing app, no token, and file names that are not the console's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hangarForCli } from '../helpers/cli-run.ts';
import { TOKEN, type TestHangar } from '../helpers/hangar.ts';

describe('the machines watch stream and the console files', () => {
  let t: TestHangar;
  let url: string;
  before(async () => {
    ({ t, url } = await hangarForCli({ delays: { bootMs: 10, stopMs: 10 } }));
  });
  after(() => t.close());

  /** Reads events from the stream until `enough` says so. */
  async function events(app: string, enough: (got: Array<{ event: string; data: any }>) => boolean, act: () => Promise<void>) { // eslint-disable-line @typescript-eslint/no-explicit-any
    const stop = new AbortController();
    const response = await fetch(`${url}/hangar/v1/apps/${app}/machines/watch`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: stop.signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
    const got: Array<{ event: string; data: any }> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    let buffer = '';
    let acted = false;
    for await (const chunk of (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        if (event) got.push({ event, data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') });
      }
      if (!acted && got.length > 0) {
        acted = true;
        await act();
      }
      if (enough(got)) break;
    }
    stop.abort();
    return got;
  }

  it('sends a snapshot of the app\'s machines, then each change as it is committed, and only the app\'s', async () => {
    const app = await t.app('watched');
    const other = await t.app('other');
    const first = await t.machine(app);
    await t.waitFor(app, first.id, 'started');
    let second = '';
    const got = await events(app, (all) => all.some((e) => e.event === 'machine' && e.data.id === first.id && e.data.state === 'stopped'), async () => {
      await t.machine(other);
      second = (await t.machine(app)).id;
      assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${first.id}/stop`)).status, 200);
    });
    assert.equal(got[0]?.event, 'snapshot');
    assert.deepEqual(got[0]?.data.machines.map((m: { id: string; state: string }) => `${m.id} ${m.state}`), [`${first.id} started`]);
    const changes = got.slice(1);
    assert.ok(changes.every((e) => e.event === 'machine' && [first.id, second].includes(e.data.id)), 'nothing of another app');
    assert.ok(changes.some((e) => e.data.id === second), 'a machine made after the snapshot');
    assert.deepEqual(Object.keys(changes[0]?.data ?? {}).sort(), ['cordoned', 'created_at', 'host_id', 'id', 'image', 'name', 'process_group', 'region', 'release', 'state', 'updated_at']);
    const history = got[0]?.data.machines[0].history as Array<{ state: string; at: number }>;
    assert.deepEqual(history.map((h) => h.state), ['started', 'created'], 'the snapshot carries the states its recent events entered, newest first');
    assert.ok(history.every((h) => typeof h.at === 'number'));
  });

  it('refuses a missing app and a caller without the token', async () => {
    const missing = await fetch(`${url}/hangar/v1/apps/nope/machines/watch`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(missing.status, 404);
    assert.match((await missing.json() as { error: string }).error, /app not found/);
    assert.equal((await fetch(`${url}/hangar/v1/apps/nope/machines/watch`)).status, 401);
  });

  it('serves the console\'s own files without a token, with its policy, and nothing else', async () => {
    const page = await fetch(`${url}/console`);
    assert.ok(page.status === 200 || page.status === 404, 'built or not');
    if (page.status === 200) assert.match(page.headers.get('content-security-policy') ?? '', /connect-src 'self'/);
    for (const path of ['/console/..%2F..%2Fpackage.json', '/console/%2e%2e%2fhangar.db', '/console/index.html', '/console/console.JS', '/console/x.map']) {
      const refused = await fetch(`${url}${path}`);
      assert.ok(refused.status === 400 || refused.status === 404, `${path}: ${refused.status}`);
      assert.doesNotMatch(await refused.text(), /"name": "hangar"|SQLite/);
    }
  });
});
