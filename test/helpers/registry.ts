/**
 * A real OCI registry (Debian's docker-registry) on loopback for tests, and a
 * pusher that builds images from files: layers as gzip, zstd or plain tar, an
 * optional multi-platform index. Nothing leaves the machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage, LAYER_MEDIA, layerBlob, type LayerSpec, sha256 } from './image-build.ts';

export type { LayerFiles, LayerSpec } from './image-build.ts';

export interface Registry {
  host: string;
  /** docker-registry's process. */
  pid: number | undefined;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-registry-'));
  const port = await freePort();
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1',
    'log: { level: error }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
    `http: { addr: "127.0.0.1:${port}" }`,
  ].join('\n'));
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) break;
    } catch {
      await sleep(50);
    }
  }
  return {
    host,
    pid: child.pid,
    async stop() {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function putBlob(host: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location') as string, `http://${host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`blob upload answered ${put.status}`);
  return digest;
}

async function putManifest(host: string, repo: string, reference: string, mediaType: string, body: unknown): Promise<string> {
  const data = Buffer.from(JSON.stringify(body));
  const put = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: data, headers: { 'content-type': mediaType } });
  if (put.status !== 201) throw new Error(`manifest upload answered ${put.status}: ${await put.text()}`);
  return sha256(data);
}

export interface PushOptions {
  config: Record<string, unknown>;
  /** Push an OCI index with this image as linux/amd64 (and a decoy arm64 entry). */
  asIndex?: boolean;
}

/** Pushes an image; returns the digest of its (platform) manifest. */
export async function pushImage(host: string, repo: string, tag: string, layers: LayerSpec[], options: PushOptions): Promise<string> {
  const image = await buildImage(layers, options.config);
  for (const blob of [...image.layers, image.config]) await putBlob(host, repo, blob.data);
  const manifest = image.manifest;
  if (!options.asIndex) return putManifest(host, repo, tag, manifest.mediaType, manifest);
  const digest = await putManifest(host, repo, `${tag}-amd64`, manifest.mediaType, manifest);
  const size = Buffer.from(JSON.stringify(manifest)).length;
  // A different image for arm64, listed first: choosing it would be visible (/arch).
  const decoyLayer = await layerBlob({ files: { '/arch': 'arm64\n' }, compression: 'gzip' });
  const decoy = { ...manifest, layers: [{ mediaType: LAYER_MEDIA.gzip, digest: await putBlob(host, repo, decoyLayer), size: decoyLayer.length }] };
  const decoyDigest = await putManifest(host, repo, `${tag}-arm64`, decoy.mediaType, decoy);
  await putManifest(host, repo, tag, 'application/vnd.oci.image.index.v1+json', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: decoy.mediaType, digest: decoyDigest, size: Buffer.from(JSON.stringify(decoy)).length, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: manifest.mediaType, digest, size, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  });
  return digest;
}
