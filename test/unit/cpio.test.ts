import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { cpioArchive } from '../../src/guest/cpio.ts';

describe('cpio (newc)', () => {
  it('writes an archive that cpio lists and extracts', () => {
    const archive = cpioArchive([
      { kind: 'dir', path: 'etc' },
      { kind: 'file', path: '/etc/hostname', data: 'machine-1\n' },
      { kind: 'file', path: 'init', data: '#!/bin/sh\n', mode: 0o755 },
      { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    ]);
    assert.equal(archive.length % 512, 0);
    const listing = execFileSync('cpio', ['-t', '-v', '--quiet'], { input: archive }).toString();
    assert.match(listing, /^drwxr-xr-x .* etc$/m);
    assert.match(listing, /^-rw-r--r-- .* 10 .* etc\/hostname$/m);
    assert.match(listing, /^-rwxr-xr-x .* init$/m);
    assert.match(listing, /^lrwxrwxrwx .* bin\/sh -> busybox$/m);
    const content = execFileSync('cpio', ['-i', '--to-stdout', '--quiet', 'etc/hostname'], { input: archive }).toString();
    assert.equal(content, 'machine-1\n');
  });
});

