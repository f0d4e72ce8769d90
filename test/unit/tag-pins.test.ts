import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import { registryTagPins } from '../../src/image/tag-pins.ts';
import type { RegistryClient, ResolvedImage } from '../../src/image/registry-client.ts';

/** A registry whose answers the test gives, one request at a time. */
function heldRegistry() {
  const asked: Array<{ tag: string; answer: (digest: string) => void; fail: (error: Error) => void }> = [];
  const client = {
    resolve: (ref: { tag: string }) => new Promise<ResolvedImage>((resolve, reject) => {
      asked.push({ tag: ref.tag, answer: (digest) => resolve({ digest, manifest: { config: { mediaType: '', digest, size: 0 }, layers: [] } }), fail: reject });
    }),
  } as unknown as RegistryClient;
  return { asked, pins: registryTagPins(client) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const forever = () => new AbortController().signal;

describe('tags pinned by the registry', () => {
  it('asks at once, and gives the creates that came meanwhile one answer asked after them', async () => {
    const { asked, pins } = heldRegistry();
    const ref = parseImageRef('registry.test/app:1');
    const first = pins(ref, forever());
    assert.equal(asked.length, 1, 'the first create asks at once');
    const later = [pins(ref, forever()), pins(ref, forever()), pins(ref, forever())];
    await tick();
    assert.equal(asked.length, 1, 'the others wait for the answer out');
    asked[0]?.answer('sha256:old');
    assert.equal(await first, 'sha256:old');
    await tick();
    assert.equal(asked.length, 2, 'then one request for all of them');
    const afterIt = pins(ref, forever());
    asked[1]?.answer('sha256:new');
    assert.deepEqual(await Promise.all(later), ['sha256:new', 'sha256:new', 'sha256:new']);
    await tick();
    assert.equal(asked.length, 3, 'a create after the second request was sent gets a third');
    asked[2]?.answer('sha256:newer');
    assert.equal(await afterIt, 'sha256:newer');
  });

  it('keeps tags and repositories apart', async () => {
    const { asked, pins } = heldRegistry();
    void pins(parseImageRef('registry.test/app:1'), forever());
    void pins(parseImageRef('registry.test/app:2'), forever());
    void pins(parseImageRef('registry.test/other:1'), forever());
    assert.deepEqual(asked.map((request) => request.tag), ['1', '2', '1']);
    for (const request of asked) request.answer('sha256:x');
  });

  it('fails the creates a failed request answers, and asks again for the next', async () => {
    const { asked, pins } = heldRegistry();
    const ref = parseImageRef('registry.test/app:1');
    const first = pins(ref, forever());
    asked[0]?.fail(new Error('manifest unknown'));
    await assert.rejects(first, /manifest unknown/);
    const again = pins(ref, forever());
    assert.equal(asked.length, 2);
    asked[1]?.answer('sha256:pushed');
    assert.equal(await again, 'sha256:pushed');
  });

  it('asks nothing for a create that gave up before it asked', async () => {
    const { asked, pins } = heldRegistry();
    const gone = new AbortController();
    gone.abort(new Error('gone'));
    await assert.rejects(pins(parseImageRef('registry.test/app:1'), gone.signal), /gone/);
    assert.equal(asked.length, 0);
  });

  it('lets a create stop waiting without ending the request the others wait for', async () => {
    const { asked, pins } = heldRegistry();
    const ref = parseImageRef('registry.test/app:1');
    const impatient = new AbortController();
    const gaveUp = pins(ref, impatient.signal);
    const patient = pins(ref, forever());
    impatient.abort(new Error('too slow'));
    await assert.rejects(gaveUp, /too slow/);
    await tick();
    asked[0]?.answer('sha256:a');
    await tick();
    asked[1]?.answer('sha256:b');
    assert.equal(await patient, 'sha256:b');
  });
});
