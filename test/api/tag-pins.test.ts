/**
 * A create's tag pinned to its digest by the process that takes the create (an API
 * replica does; see ControlDeps.pinTag), and what happens when the registry cannot
 * say: the tag is left to the host's prepare. An update naming the same tag looks
 * it up again, pinned or not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImageRef } from '../../src/domain/image-ref.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('a host that looks tags up itself (one process: no pins)', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());

  it('boots what the tag names now after an update that names the same tag, not the digest it first had', async () => {
    const app = await t.app('retag');
    const m = await t.machine(app, { config: { image: 'registry.test/hello:4' } });
    assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
    const moved = `sha256:${'12'.repeat(32)}`;
    t.driver.moveTag('registry.test/hello:4', moved);
    const updated = await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { config: { image: 'registry.test/hello:4', env: { A: '1' } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    for (let i = 0; i < 50 && (await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body.image_ref.digest !== moved; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body.image_ref.digest, moved);
  });
});

describe('tags pinned at create', () => {
  let t: TestHangar;
  let app: string;
  const asked: ImageRef[] = [];
  const PINNED = `sha256:${'ab'.repeat(32)}`;
  before(async () => {
    t = await testHangar();
    app = await t.app('pins');
    t.hangar.control.pinTag = async (ref, signal) => {
      assert.ok(signal instanceof AbortSignal);
      asked.push(ref);
      if (ref.tag === 'unknown') throw new Error('manifest unknown');
      return PINNED;
    };
  });
  after(() => t.close());

  it('keeps the tag and records the digest the registry gave it', async () => {
    const m = await t.machine(app, { skip_launch: true, config: { image: 'registry.test/hello:2' } });
    assert.deepEqual([m.image_ref.registry, m.image_ref.repository, m.image_ref.tag, m.image_ref.digest], ['registry.test', 'hello', '2', PINNED]);
    assert.equal(m.config.image, 'registry.test/hello:2', 'the config says what was asked');
    assert.deepEqual(asked.at(-1), { registry: 'registry.test', repository: 'hello', tag: '2', digest: '', labels: {} });
  });

  it('asks nothing of an image named by digest', async () => {
    const before = asked.length;
    const digest = `sha256:${'cd'.repeat(32)}`;
    const m = await t.machine(app, { skip_launch: true, config: { image: `registry.test/hello@${digest}` } });
    assert.equal(m.image_ref.digest, digest);
    assert.equal(asked.length, before);
  });

  it('looks a tag up again when an update names the same one, and keeps a digest named', async () => {
    const m = await t.machine(app, { skip_launch: true, config: { image: 'registry.test/hello:3' } });
    const asks = asked.length;
    const updated = await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { skip_launch: true, config: { image: 'registry.test/hello:3', env: { A: '1' } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(asked.length, asks + 1, 'asked again');
    const byDigest = `registry.test/hello@sha256:${'ef'.repeat(32)}`;
    const pinnedOne = await t.machine(app, { skip_launch: true, config: { image: byDigest } });
    const again = await t.call('POST', `/v1/apps/${app}/machines/${pinnedOne.id}`, { skip_launch: true, config: { image: byDigest, env: { A: '1' } } });
    assert.equal(again.body.image_ref.digest, `sha256:${'ef'.repeat(32)}`);
    assert.equal(asked.length, asks + 1, 'a digest is not asked about');
  });

  it('leaves a tag the registry cannot pin to the host, which resolves it', async () => {
    const m = await t.machine(app, { skip_launch: true, config: { image: 'registry.test/hello:unknown' } });
    assert.equal(asked.at(-1)?.tag, 'unknown');
    assert.equal(m.image_ref.digest, t.driver.digestOf('registry.test/hello:unknown'));
  });
});
