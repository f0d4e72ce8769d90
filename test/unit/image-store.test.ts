/** How the image store's prepare honours its caller's AbortSignal, over a source that answers when the test says. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImageStore } from '../../src/image/image-store.ts';
import type { ImageSource, ResolvedImage } from '../../src/image/registry-client.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REFERENCE = 'registry.test/web:1';

/**
 * A source whose resolves wait for `answer()`, each failing soon after its signal
 * aborts, as a fetch or a command does (it takes a moment to be torn down).
 */
function heldSource() {
  const signals: Array<AbortSignal | undefined> = [];
  const waiting: Array<() => void> = [];
  const source: ImageSource = {
    resolve: (_ref, signal) => new Promise<ResolvedImage>((resolve, reject) => {
      signals.push(signal);
      signal?.addEventListener('abort', () => setTimeout(() => reject(signal.reason), 20), { once: true });
      waiting.push(() => resolve({ digest: DIGEST, manifest: { config: { mediaType: 'json', digest: DIGEST, size: 2 }, layers: [] } }));
    }),
    fetchJson: () => Promise.reject(new Error('not used: the image is cached')),
    download: () => Promise.reject(new Error('not used: the image is cached')),
  };
  return { source, signals, answer: () => { for (const resolve of waiting.splice(0)) resolve(); } };
}

describe('image store: a prepare\'s signal', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-image-store-'));
    // The image is built already: a resolve is the whole of a prepare.
    mkdirSync(join(dir, DIGEST.replace(':', '-')));
    writeFileSync(join(dir, DIGEST.replace(':', '-'), 'rootfs.ext4'), '');
    writeFileSync(join(dir, DIGEST.replace(':', '-'), 'config.json'), '{}');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses at once when it has aborted already, asking nothing of the source', async () => {
    const { source, signals } = heldSource();
    const controller = new AbortController();
    controller.abort(new Error('given up'));
    await assert.rejects(new ImageStore(dir, source).prepare(REFERENCE, undefined, controller.signal), /given up/);
    assert.equal(signals.length, 0);
  });

  it('gives up with the signal\'s reason and aborts the pull nobody else waits for; the next prepare pulls anew', async () => {
    const { source, signals, answer } = heldSource();
    const store = new ImageStore(dir, source);
    const controller = new AbortController();
    const first = store.prepare(REFERENCE, undefined, controller.signal);
    controller.abort(new Error('image preparation timed out'));
    await assert.rejects(first, /image preparation timed out/);
    assert.equal(signals[0]?.aborted, true, 'the source\'s request is cut short');
    // Asked while the aborted pull is still being torn down: it waits for that, then pulls anew.
    const again = store.prepare(REFERENCE);
    while (signals.length < 2) await sleep(5);
    answer();
    assert.equal((await again).imageRef.digest, DIGEST);
    assert.equal(signals.length, 2);
  });

  it('lets a shared pull go on while another caller still waits for it', async () => {
    const { source, signals, answer } = heldSource();
    const store = new ImageStore(dir, source);
    const controller = new AbortController();
    const leaving = store.prepare(REFERENCE, undefined, controller.signal);
    const staying = store.prepare(REFERENCE);
    controller.abort(new Error('given up'));
    await assert.rejects(leaving, /given up/);
    assert.equal(signals[0]?.aborted, false);
    answer();
    assert.equal((await staying).imageRef.digest, DIGEST);
    assert.equal(signals.length, 1, 'one pull, shared');
  });
});
