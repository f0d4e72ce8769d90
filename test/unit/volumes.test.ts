import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSpace, given, spaceMargin, volumeStyleId } from '../../src/domain/volume.ts';
import { sparseCopyArgv } from '../../src/volumes/local-volumes.ts';

const GB = 1024 ** 3;

describe('volume rules', () => {
  it('reads null as not given', () => {
    assert.equal(given(null), undefined);
    assert.equal(given(0), 0);
    assert.equal(given(false), false);
  });

  it('keeps 5 % of the filesystem free, at least 1 GB', () => {
    assert.equal(spaceMargin(10 * GB), GB);
    assert.equal(spaceMargin(100 * GB), 5 * GB);
  });

  it('refuses what may not fit in the free space less the margin', () => {
    const space = { freeBytes: 20 * GB, totalBytes: 100 * GB };
    checkSpace(15 * GB, space, 'x');
    assert.throws(() => checkSpace(15 * GB + 1, space, 'a thing'), (error: Error & { code?: string }) =>
      error.code === 'insufficient_space' && /a thing: it may need 15\.0 GB, and 15\.0 GB is usable/.test(error.message));
    assert.throws(() => checkSpace(1, { freeBytes: GB / 2, totalBytes: 10 * GB }, 'x'), /and 0\.0 GB is usable/);
  });

  it('counts what work under way is still to write as not free', () => {
    const space = { freeBytes: 20 * GB, totalBytes: 100 * GB };
    checkSpace(7 * GB, space, 'x', 8 * GB);
    assert.throws(() => checkSpace(7 * GB + 1, space, 'x', 8 * GB),
      /and 7\.0 GB is usable \(20\.0 GB free, less the 5\.0 GB hangar keeps free and the 8\.0 GB work under way on this disk will write\)/);
  });

  it('makes ids in Fly\'s style', () => {
    let n = 0;
    assert.equal(volumeStyleId('vs_', (max) => n++ % max), 'vs_abcdefghijklmnop');
    assert.match(volumeStyleId('vol_', (max) => max - 1), /^vol_9{16}$/);
  });
});

describe('volume files', () => {
  it('copies with a reflink where it can, else sparsely', () => {
    assert.deepEqual(sparseCopyArgv('/d/volumes/vol_a.ext4', '/d/volumes/vol_b.ext4.partial'),
      ['cp', '--reflink=auto', '--sparse=always', '--', '/d/volumes/vol_a.ext4', '/d/volumes/vol_b.ext4.partial']);
  });
});
