/**
 * Images from a real registry on loopback: pulled (anonymous and with a bearer
 * token), layers applied with whiteouts (gzip, zstd), turned into an ext4 root
 * filesystem, cached by digest.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageStore, mkfsArgv } from '../../src/image/image-store.ts';
import { RegistryClient } from '../../src/image/registry-client.ts';
import { buildImage, writeDockerArchive, writeOciLayout } from '../helpers/image-build.ts';
import { freePort, pushImage, startRegistry, type Registry } from '../helpers/registry.ts';

/** Reads a file out of an ext4 image without mounting it. */
function readFromExt4(image: string, path: string): string | null {
  try {
    return execFileSync('debugfs', ['-R', `cat ${path}`, image], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch {
    return null;
  }
}

function existsInExt4(image: string, path: string): boolean {
  const out = execFileSync('debugfs', ['-R', `stat ${path}`, image], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  return out.includes('Inode:');
}

describe('images', () => {
  let registry: Registry;
  const dir = mkdtempSync(join(tmpdir(), 'hangar-images-'));
  before(async () => { registry = await startRegistry(); });
  after(async () => {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls an image, applies gzip and zstd layers with whiteouts, builds ext4, caches by digest', async () => {
    const digest = await pushImage(registry.host, 'team/app', '1', [
      { compression: 'gzip', files: { '/bin/hello': { mode: 0o755, content: '#!/bin/sh\necho hi\n' }, '/etc/old.conf': 'old', '/var/cache/a': 'a', '/var/cache/b': 'b' } },
      { compression: 'zstd', files: { '/etc/.wh.old.conf': '', '/var/cache/.wh..wh..opq': '', '/var/cache/new': 'new', '/etc/app.conf': 'v2' } },
    ], { config: { Entrypoint: ['/bin/hello'], Cmd: ['--port', '80'], Env: ['MODE=prod'], WorkingDir: '/srv' } });

    const store = new ImageStore(join(dir, 'store'));
    const image = await store.prepare(`${registry.host}/team/app:1`);
    assert.equal(image.imageRef.digest, digest);
    assert.deepEqual([image.imageRef.registry, image.imageRef.repository, image.imageRef.tag], [registry.host, 'team/app', '1']);
    assert.deepEqual(image.config.Entrypoint, ['/bin/hello']);
    assert.deepEqual(image.config.Cmd, ['--port', '80']);
    assert.equal(readFromExt4(image.rootfsPath, '/bin/hello'), '#!/bin/sh\necho hi\n');
    assert.equal(readFromExt4(image.rootfsPath, '/etc/app.conf'), 'v2');
    assert.equal(existsInExt4(image.rootfsPath, '/etc/old.conf'), false, 'whiteout removes a lower file');
    assert.equal(existsInExt4(image.rootfsPath, '/var/cache/a'), false, 'opaque dir drops lower contents');
    assert.equal(readFromExt4(image.rootfsPath, '/var/cache/new'), 'new');
    assert.equal(existsInExt4(image.rootfsPath, '/etc/.wh.old.conf'), false, 'whiteout markers are not copied');

    const again = await Promise.all([store.prepare(`${registry.host}/team/app:1`), store.prepare(`${registry.host}/team/app@${digest}`)]);
    assert.ok(again.every((i) => i.rootfsPath === image.rootfsPath));
  });

  it('reports progress to every caller of a shared pull, then says the image is cached', async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    await pushImage(registry.host, 'team/progress', '1', [{ compression: 'gzip', files: { '/blob': { mode: 0o644, content: big } } }], { config: { Cmd: ['/x'] } });
    const store = new ImageStore(join(dir, 'store-progress'));
    const first: Array<{ status: string; done?: number; total?: number }> = [];
    const second: typeof first = [];
    const reference = `${registry.host}/team/progress:1`;
    await Promise.all([store.prepare(reference, (p) => first.push(p)), store.prepare(reference, (p) => second.push(p))]);
    assert.deepEqual([...new Set(first.map((p) => p.status))], ['resolving', 'downloading', 'unpacking', 'building']);
    const downloads = first.filter((p) => p.status === 'downloading');
    assert.ok(downloads.length >= 3, `several progress reports for a 3 MB layer, got ${downloads.length}`);
    assert.equal(downloads.at(-1)?.done, downloads.at(-1)?.total, 'the last report is the whole layer');
    assert.ok(downloads.every((p, i) => i === 0 || (p.done as number) >= (downloads[i - 1]?.done as number)));
    assert.ok(second.some((p) => p.status === 'building'), 'a caller joining the pull sees its progress too');
    const again: typeof first = [];
    await store.prepare(reference, (p) => again.push(p));
    assert.deepEqual(again.map((p) => p.status), ['resolving', 'cached']);
  });

  it('chooses linux/amd64 from an index', async () => {
    const digest = await pushImage(registry.host, 'team/multi', 'latest', [
      { compression: 'gzip', files: { '/arch': 'amd64\n' } },
    ], { config: { Cmd: ['/bin/sh'] }, asIndex: true });
    const image = await new ImageStore(join(dir, 'store2')).prepare(`${registry.host}/team/multi`);
    assert.equal(image.imageRef.digest, digest);
    assert.equal(readFromExt4(image.rootfsPath, '/arch'), 'amd64\n');
  });

  it('answers a bearer-token challenge, with credentials when given', async () => {
    await pushImage(registry.host, 'private/app', '1', [{ compression: 'none', files: { '/secret': 's3' } }], { config: { Cmd: ['/x'] } });
    const port = await freePort();
    const seen: string[] = [];
    // A registry front that requires a token, issued only for the right basic credentials.
    const front: Server = createServer(async (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url?.startsWith('/token')) {
        const ok = req.headers.authorization === `Basic ${Buffer.from('alice:pw').toString('base64')}`;
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? JSON.stringify({ token: 'tok-123' }) : '{}');
        return;
      }
      if (req.headers.authorization !== 'Bearer tok-123') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test",scope="repository:private/app:pull"` }).end();
        return;
      }
      const upstream = await fetch(`http://${registry.host}${req.url}`, { headers: { accept: String(req.headers.accept ?? '*/*') } });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => front.listen(port, '127.0.0.1', resolve));
    try {
      const anonymous = new ImageStore(join(dir, 'store3'));
      await assert.rejects(anonymous.prepare(`127.0.0.1:${port}/private/app:1`), /token request answered 401/);
      const client = new RegistryClient({ credentials: () => ({ username: 'alice', password: 'pw' }) });
      const image = await new ImageStore(join(dir, 'store4'), client).prepare(`127.0.0.1:${port}/private/app:1`);
      assert.equal(readFromExt4(image.rootfsPath, '/secret'), 's3');
      assert.ok(seen.some((line) => line.startsWith('GET /token?service=test&scope=repository%3Aprivate%2Fapp%3Apull')));
    } finally {
      front.close();
    }
  });

  it('reports a missing image clearly', async () => {
    await assert.rejects(new ImageStore(join(dir, 'store5')).prepare(`${registry.host}/team/nothing:1`), /answered 404/);
  });

  it('takes images from an OCI layout on disk, by tag', async () => {
    const image = await buildImage([
      { compression: 'gzip', files: { '/etc/which': 'layout\n', '/old': 'x' } },
      { compression: 'zstd', files: { '/.wh.old': '' } },
    ], { Cmd: ['/bin/app'] });
    const layout = join(dir, 'layout');
    writeOciLayout(layout, image, 'v2');
    const store = new ImageStore(join(dir, 'store6'));
    const prepared = await store.prepare(`oci:${layout}:v2`);
    assert.deepEqual(prepared.imageRef, { registry: 'oci', repository: layout, tag: 'v2', digest: image.manifestDigest, labels: {} });
    assert.deepEqual(prepared.config.Cmd, ['/bin/app']);
    assert.equal(readFromExt4(prepared.rootfsPath, '/etc/which'), 'layout\n');
    assert.equal(existsInExt4(prepared.rootfsPath, '/old'), false);
    assert.equal((await store.prepare(`oci:${layout}`)).rootfsPath, prepared.rootfsPath, 'the only image needs no tag');
    await assert.rejects(store.prepare(`oci:${layout}:v3`), /has no image named "v3" \(it has: v2\)/);
    await assert.rejects(store.prepare(`oci:${join(dir, 'nowhere')}`), /index\.json is missing/);
  });

  it('takes images from a docker-archive tarball (docker save), plain and compressed layers', async () => {
    const image = await buildImage([
      { compression: 'none', files: { '/etc/which': 'archive\n' } },
      { compression: 'gzip', files: { '/etc/more': 'gz\n' } },
    ], { Entrypoint: ['/bin/app'] });
    const archive = join(dir, 'web.tar');
    await writeDockerArchive(archive, image, 'example/web:1');
    const store = new ImageStore(join(dir, 'store7'));
    const prepared = await store.prepare(`docker-archive:${archive}:example/web:1`);
    assert.deepEqual([prepared.imageRef.registry, prepared.imageRef.repository, prepared.imageRef.tag], ['docker-archive', archive, 'example/web:1']);
    assert.equal(prepared.imageRef.digest, image.config.digest, 'an archive has no manifest digest: the image ID stands in');
    assert.deepEqual(prepared.config.Entrypoint, ['/bin/app']);
    assert.equal(readFromExt4(prepared.rootfsPath, '/etc/which'), 'archive\n');
    assert.equal(readFromExt4(prepared.rootfsPath, '/etc/more'), 'gz\n');
    assert.equal((await new ImageStore(join(dir, 'store7')).prepare(`docker-archive:${archive}`)).rootfsPath, prepared.rootfsPath);
    await assert.rejects(store.prepare(`docker-archive:${archive}:other:1`), /has no image named "other:1"/);
    await assert.rejects(store.prepare(`docker-archive:${join(dir, 'missing.tar')}`), /no such file/);
  });

  it('builds mke2fs argv', () => {
    assert.deepEqual(mkfsArgv('/r', '/i.ext4', 1100), ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', '-E', 'root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0', '-d', '/r', '/i.ext4', '1100M']);
  });
});
