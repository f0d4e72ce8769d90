import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sparseCopyArgv } from '../../src/volumes/local-volumes.ts';

describe('volume files', () => {
  it('copies with a reflink where it can, else sparsely', () => {
    assert.deepEqual(sparseCopyArgv('/d/volumes/vol_a.ext4', '/d/volumes/vol_b.ext4.partial'),
      ['cp', '--reflink=auto', '--sparse=always', '--', '/d/volumes/vol_a.ext4', '/d/volumes/vol_b.ext4.partial']);
  });
});
