import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageStore } from '../../src/image/image-store.ts';
import { startServer } from '../../src/server.ts';

const HEX64 = 'ab'.repeat(32);

describe('image store leftovers', () => {
  let root: string;
  let images: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'hangar-images-'));
    images = join(root, 'images');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const file = (path: string, text = 'x') => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  };

  it('removes interrupted builds, downloads and archive unpacks, and nothing else', async () => {
    // What a build, a layer download and an archive unpack killed mid-way leave.
    file(join(images, 'build-Wcm8tp', 'root', 'etc', 'passwd'));
    file(join(images, 'build-a1B2c3', 'rootfs.ext4'));
    file(join(images, 'blobs', `sha256-${HEX64}.partial`));
    file(join(images, 'blobs', `sha256-${HEX64}.0a1b2c3d.partial`));
    file(join(images, 'archives', `${'c'.repeat(24)}.partial`, 'manifest.json'));
    // What the store keeps: finished images, blobs and unpacked archives.
    const kept = [
      join(images, `sha256-${HEX64}`, 'rootfs.ext4'),
      join(images, `sha256-${HEX64}`, 'config.json'),
      join(images, 'blobs', `sha256-${HEX64}`),
      join(images, 'archives', 'c'.repeat(24), 'manifest.json'),
      // Names the store does not make, even close ones.
      join(images, 'build-notes.txt'),
      join(images, 'build-longer-name', 'keep'),
      join(images, 'build-a1B2c', 'keep'),
      join(images, 'blobs', 'notes.partial'),
      join(images, 'blobs', `sha256-${HEX64}.notmine.partial`),
      join(images, 'mine', 'build-Wcm8tp', 'keep'),
    ];
    for (const path of kept) file(path);
    file(join(images, 'build-file00'));
    kept.push(join(images, 'build-file00'));
    // A link named like a build folder is not followed, and its target survives.
    const outside = join(root, 'outside');
    file(join(outside, 'precious'));
    symlinkSync(outside, join(images, 'build-link00'));
    kept.push(join(images, 'build-link00'), join(outside, 'precious'));

    const removed = await new ImageStore(images).removeLeftovers();
    assert.deepEqual(removed.sort(), [
      join(images, 'archives', `${'c'.repeat(24)}.partial`),
      join(images, 'blobs', `sha256-${HEX64}.partial`),
      join(images, 'blobs', `sha256-${HEX64}.0a1b2c3d.partial`),
      join(images, 'build-Wcm8tp'),
      join(images, 'build-a1B2c3'),
    ].sort());
    for (const path of removed) assert.equal(existsSync(path), false, `${path} is gone`);
    for (const path of kept) assert.equal(existsSync(path), true, `${path} is kept`);
  });

  it('goes at every start of the server, whatever the driver', async () => {
    const data = join(root, 'data');
    const build = join(data, 'images', 'build-Zz9yX8');
    const blob = join(data, 'images', 'blobs', `sha256-${HEX64}`);
    file(join(build, 'root', 'bin', 'sh'));
    file(blob);
    const server = await startServer({
      dataDir: data, apiListen: '127.0.0.1:0', proxyListen: '127.0.0.1:0', proxyTlsListen: 'off', driver: 'fake', fakeTiming: 'instant', logLevel: 'silent',
    });
    try {
      assert.equal(existsSync(build), false);
      assert.equal(existsSync(blob), true);
    } finally {
      await server.close();
    }
  });

  it('is happy with a store that has never been used', async () => {
    assert.deepEqual(await new ImageStore(join(root, 'fresh')).removeLeftovers(), []);
    assert.equal(existsSync(join(root, 'fresh')), false, 'and creates nothing');
  });
});
