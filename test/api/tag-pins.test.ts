/**
 * A create's tag pinned to its digest by the process that takes the create (an API
 * replica does; see ControlDeps.pinTag), and what happens when the registry cannot
 * say: the tag is left to the host's prepare.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImageRef } from '../../src/domain/image-ref.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

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

  it('leaves a tag the registry cannot pin to the host, which resolves it', async () => {
    const m = await t.machine(app, { skip_launch: true, config: { image: 'registry.test/hello:unknown' } });
    assert.equal(asked.at(-1)?.tag, 'unknown');
    assert.equal(m.image_ref.digest, t.driver.digestOf('registry.test/hello:unknown'));
  });
});
