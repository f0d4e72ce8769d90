/**
 * Test images built from files: layers as gzip, zstd or plain tar, an OCI config
 * and manifest; written out as an OCI image layout or a `docker save` archive, or
 * pushed to a registry (registry.ts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { c as createTar } from 'tar';

export type LayerFiles = Record<string, string | { mode: number; content: string | Buffer } | { symlink: string }>;

/** The host's static busybox as /bin/busybox, the given applets linked to it in /bin, and `extra` files. */
export function busyboxLayer(applets: readonly string[], extra: LayerFiles = {}): LayerFiles {
  const files: LayerFiles = { '/bin/busybox': { mode: 0o755, content: readFileSync('/bin/busybox') } };
  for (const applet of applets) files[`/bin/${applet}`] = { symlink: 'busybox' };
  return { ...files, ...extra };
}

export interface LayerSpec {
  files: LayerFiles;
  compression: 'gzip' | 'zstd' | 'none';
}

export const LAYER_MEDIA = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export async function layerBlob(spec: LayerSpec): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-layer-'));
  try {
    for (const [path, value] of Object.entries(spec.files)) {
      const full = join(dir, path);
      mkdirSync(dirname(full), { recursive: true });
      if (typeof value === 'string') writeFileSync(full, value);
      else if ('symlink' in value) symlinkSync(value.symlink, full);
      else writeFileSync(full, value.content, { mode: value.mode });
    }
    const tarFile = join(dir, '..', `${dir.split('/').at(-1)}.tar`);
    await createTar({ cwd: dir, file: tarFile, portable: true }, Object.keys(spec.files).map((p) => p.replace(/^\//, '')));
    const tar = readFileSync(tarFile);
    rmSync(tarFile);
    return spec.compression === 'gzip' ? gzipSync(tar) : spec.compression === 'zstd' ? zstdCompressSync(tar) : tar;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Blob {
  mediaType: string;
  digest: string;
  data: Buffer;
}

export interface BuiltImage {
  layers: Blob[];
  config: Blob;
  manifest: { schemaVersion: 2; mediaType: string; config: { mediaType: string; digest: string; size: number }; layers: Array<{ mediaType: string; digest: string; size: number }> };
  manifestBytes: Buffer;
  manifestDigest: string;
}

export async function buildImage(layers: LayerSpec[], processConfig: Record<string, unknown>): Promise<BuiltImage> {
  const built: Blob[] = [];
  for (const spec of layers) {
    const data = await layerBlob(spec);
    built.push({ mediaType: LAYER_MEDIA[spec.compression], digest: sha256(data), data });
  }
  const configData = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: processConfig, rootfs: { type: 'layers', diff_ids: [] } }));
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configData), data: configData };
  const descriptor = (blob: Blob) => ({ mediaType: blob.mediaType, digest: blob.digest, size: blob.data.length });
  const manifest = { schemaVersion: 2 as const, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: descriptor(config), layers: built.map(descriptor) };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { layers: built, config, manifest, manifestBytes, manifestDigest: sha256(manifestBytes) };
}

/** An OCI image layout in `dir` holding `image` under `tag`. */
export function writeOciLayout(dir: string, image: BuiltImage, tag: string): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (digest: string, data: Buffer) => writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  for (const blob of [...image.layers, image.config]) put(blob.digest, blob.data);
  put(image.manifestDigest, image.manifestBytes);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: image.manifest.mediaType, digest: image.manifestDigest, size: image.manifestBytes.length,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    }],
  }));
}

/** A `docker save`-style tarball at `file`: manifest.json, `<id>.json`, `<layer>/layer.tar`. */
export async function writeDockerArchive(file: string, image: BuiltImage, repoTag: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-archive-'));
  try {
    const configName = `${image.config.digest.slice(7)}.json`;
    writeFileSync(join(dir, configName), image.config.data);
    const layerNames = image.layers.map((layer) => {
      const name = `${layer.digest.slice(7, 71)}/layer.tar`;
      mkdirSync(join(dir, dirname(name)), { recursive: true });
      writeFileSync(join(dir, name), layer.data);
      return name;
    });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: layerNames }]));
    await createTar({ cwd: dir, file, portable: true }, ['manifest.json', configName, ...layerNames]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
