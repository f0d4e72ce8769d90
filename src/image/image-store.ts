/**
 * Images on this host: pulled once, unpacked, turned into an ext4 root
 * filesystem and cached by manifest digest, shared read-only by every machine
 * of that image (each machine writes to its own copy-on-write overlay).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseImageRef, type ImageRef } from '../domain/image-ref.ts';
import type { ImageProcessConfig } from '../domain/process-spec.ts';
import { DockerArchiveSource, OciLayoutSource } from './local-sources.ts';
import { type ImageSource, RegistryClient } from './registry-client.ts';
import { applyLayer, compressionOf } from './unpack.ts';

const run = promisify(execFile);

export interface PreparedImage {
  imageRef: ImageRef;
  /** The shared, read-only ext4 image of the root filesystem. */
  rootfsPath: string;
  config: ImageProcessConfig;
}

interface OciImageConfig {
  config?: ImageProcessConfig;
}

/** Free space a root filesystem gets beyond its content (sparse: costs nothing until written). */
export function rootfsSizeMb(contentBytes: number): number {
  return Math.ceil((contentBytes * 1.25) / (1 << 20)) + 1024;
}

/** mke2fs argv for an ext4 image holding `dir` (pure; pinned by a test). */
export function mkfsArgv(dir: string, image: string, sizeMb: number): string[] {
  return ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', '-E', 'root_owner=0:0', '-d', dir, image, `${sizeMb}M`];
}

export class ImageStore {
  private readonly dir: string;
  private readonly client: RegistryClient;
  private readonly ociLayouts = new OciLayoutSource();
  private readonly dockerArchives: DockerArchiveSource;
  private readonly inflight = new Map<string, Promise<PreparedImage>>();

  constructor(dir: string, client = new RegistryClient()) {
    this.dir = dir;
    this.client = client;
    this.dockerArchives = new DockerArchiveSource(join(dir, 'archives'));
  }

  private source(ref: ImageRef): ImageSource {
    if (ref.registry === 'oci') return this.ociLayouts;
    if (ref.registry === 'docker-archive') return this.dockerArchives;
    return this.client;
  }

  /** Pulls and builds `reference` unless it is cached; concurrent calls share one pull. */
  prepare(reference: string): Promise<PreparedImage> {
    let pending = this.inflight.get(reference);
    if (!pending) {
      pending = this.build(reference).finally(() => this.inflight.delete(reference));
      this.inflight.set(reference, pending);
    }
    return pending;
  }

  private async build(reference: string): Promise<PreparedImage> {
    const ref = parseImageRef(reference);
    const source = this.source(ref);
    const { digest, manifest } = await source.resolve(ref);
    const home = join(this.dir, digest.replace(':', '-'));
    const rootfsPath = join(home, 'rootfs.ext4');
    const configPath = join(home, 'config.json');
    const imageRef = { ...ref, digest };
    if (existsSync(rootfsPath) && existsSync(configPath)) {
      return { imageRef, rootfsPath, config: JSON.parse(await readFile(configPath, 'utf8')) as ImageProcessConfig };
    }
    const blobs = join(this.dir, 'blobs');
    await mkdir(blobs, { recursive: true });
    const image = await source.fetchJson<OciImageConfig>(ref, manifest.config.digest);
    const work = await mkdtemp(join(this.dir, 'build-'));
    try {
      const root = join(work, 'root');
      await mkdir(root);
      for (const layer of manifest.layers) {
        const blob = join(blobs, layer.digest.replace(':', '-'));
        if (!existsSync(blob)) await source.download(ref, layer.digest, blob);
        await applyLayer(root, blob, compressionOf(layer.mediaType));
      }
      const { stdout } = await run('du', ['-sb', root]);
      const image4 = join(work, 'rootfs.ext4');
      await run('mke2fs', mkfsArgv(root, image4, rootfsSizeMb(Number(stdout.split('\t')[0]))));
      await mkdir(home, { recursive: true });
      await writeFile(configPath, JSON.stringify(image.config ?? {}));
      await rename(image4, rootfsPath);
      return { imageRef, rootfsPath, config: image.config ?? {} };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}
