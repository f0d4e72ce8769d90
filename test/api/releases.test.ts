/**
 * `/hangar/v1/apps/{app}/releases`: begun with what a deploy deploys, ended once,
 * listed newest first, read whole; hostile bodies refused with nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

const source = (image = 'registry.test/web:1', env: Record<string, string> = {}) => ({
  image, strategy: 'rolling', description: '', files: { 'motd.txt': btoa('hello') },
  config: { app: 'web', primary_region: 'local', env, http_service: { internal_port: 8080 } },
});

describe('releases', () => {
  let t: TestHangar;
  const base = '/hangar/v1/apps/web/releases';
  before(async () => {
    t = await testHangar();
    await t.app('web');
  });
  after(() => t.close());

  it('numbers releases, ends each once, and lists them newest first', async () => {
    const first = await t.call('POST', base, source());
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.version, 1);
    assert.equal(first.body.status, 'running');
    assert.deepEqual(first.body.files, { 'motd.txt': btoa('hello') });
    const ended = await t.call('POST', `${base}/1`, { status: 'complete' });
    assert.equal(ended.status, 200, JSON.stringify(ended.body));
    assert.equal(ended.body.status, 'complete');
    const again = await t.call('POST', `${base}/1`, { status: 'failed', reason: 'too late' });
    assert.equal(again.status, 409, 'a release ends once');
    assert.match(again.body.error, /already ended: it is complete/);

    const second = await t.call('POST', base, source('registry.test/web:2'));
    assert.equal(second.body.version, 2);
    await t.call('POST', `${base}/2`, { status: 'failed', reason: 'machine 1 failed its checks' });
    const same = await t.call('POST', base, source('registry.test/web:3'));
    assert.equal(same.body.config_digest, second.body.config_digest, 'the same config has the same digest');
    // v3's deploy is at work: a second deploy is refused, unless it holds the machines' leases (v3's deploy died).
    const refused = await t.call('POST', base, source('registry.test/web:3', { A: 'b' }));
    assert.equal(refused.status, 409);
    assert.match(refused.body.error, /release v3 of web is being deployed/);
    assert.equal((await t.call('POST', `${base}/3`, { status: 'running' })).status, 200, 'its deploy says it is still at work');
    const other = await t.call('POST', `${base}?leased=true`, source('registry.test/web:3', { A: 'b' }));
    assert.equal(other.status, 201);
    assert.notEqual(other.body.config_digest, second.body.config_digest);

    const listed = await t.call('GET', base);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.releases.map((r: { version: number; status: string }) => `v${r.version} ${r.status}`), ['v4 running', 'v3 running', 'v2 failed', 'v1 complete']);
    assert.equal(listed.body.releases[2].reason, 'machine 1 failed its checks');
    assert.equal(listed.body.releases[0].config, undefined, 'a listing carries no config');
    assert.deepEqual((await t.call('GET', `${base}?limit=1`)).body.releases.length, 1);
    const one = await t.call('GET', `${base}/1`);
    assert.equal(one.body.image, 'registry.test/web:1');
    assert.deepEqual(one.body.config.env, {});
  });

  it('refuses hostile and invalid input, writing nothing', async () => {
    const before = (await t.call('GET', base)).body.releases.length;
    const refusals: Array<[string, string, unknown, RegExp]> = [
      ['POST', base, { ...source(), strategy: 'yolo' }, /strategy/],
      ['POST', base, { ...source(), image: '' }, /image/],
      ['POST', base, { ...source(), extra: 1 }, /extra|additional/i],
      ['POST', base, { ...source(), files: { a: 'not base64!' } }, /files/],
      ['POST', base, { ...source(), config: { ...source().config, statics: [{ guest_path: '/x', url_prefix: '/' }] } }, /statics/],
      ['POST', base, { ...source(), config: { ...source().config, deploy: { strategy: 'canary' }, mounts: [{ source: 'data', destination: '/data' }] } }, /canary/],
      ['POST', '/hangar/v1/apps/nope/releases', source(), /app not found/],
      ['POST', `${base}/1`, { status: 'running' }, /has ended: it is complete/],
      ['POST', `${base}/1`, { status: 'paused' }, /status/],
      ['POST', `${base}/3`, { status: 'failed' }, /reason/],
      ['POST', `${base}/0`, { status: 'complete' }, /version/],
      ['POST', `${base}/99`, { status: 'complete' }, /no release v99/],
      ['GET', `${base}/1e3`, undefined, /version/],
      ['GET', `${base}?limit=-1`, undefined, /limit/],
    ];
    for (const [method, url, body, error] of refusals) {
      const reply = await t.call(method, url, body);
      assert.ok(reply.status >= 400 && reply.status < 500, `${method} ${url} ${JSON.stringify(body)}: ${reply.status}`);
      assert.match(reply.body.error, error, JSON.stringify(reply.body));
    }
    assert.equal((await t.call('GET', base)).body.releases.length, before);
    assert.equal((await t.call('GET', `${base}/3`)).body.status, 'running', 'a refused end leaves the release as it was');
  });
});
