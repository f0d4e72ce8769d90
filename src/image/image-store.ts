/**
 * Images on this host: pulled once, unpacked, turned into an ext4 root
 * filesystem and cached by manifest digest, shared read-only by every machine
 * of that image (each machine writes to its own copy-on-write overlay).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../commands/run.ts';
import { isLocalImage, type LocalTransport, parseImageRef, type ImageRef } from '../domain/image-ref.ts';
import type { ImageProcessConfig } from '../domain/process-spec.ts';
import type { PullProgress } from '../domain/runtime.ts';
import { DockerArchiveSource, OciLayoutSource } from './local-sources.ts';
import { type ImageSource, RegistryClient } from './registry-client.ts';
import { applyLayer, compressionOf } from './unpack.ts';
import { untilAborted } from './until-aborted.ts';

export interface PreparedImage {
  imageRef: ImageRef;
  /** The shared, read-only ext4 image of the root filesystem. */
  rootfsPath: string;
  config: ImageProcessConfig;
}

interface OciImageConfig {
  config?: ImageProcessConfig;
}

/** One build under way, shared by every caller that asks for its reference meanwhile. */
interface Pull {
  result: Promise<PreparedImage>;
  listeners: Set<(progress: PullProgress) => void>;
  /** Callers still waiting for it. When the last one gives up (its signal aborted), the build is aborted too. */
  waiting: number;
  abort: AbortController;
}

/** Free space a root filesystem gets beyond its content (sparse: costs nothing until written). */
export function rootfsSizeMb(contentBytes: number): number {
  return Math.ceil((contentBytes * 1.25) / (1 << 20)) + 1024;
}

/**
 * What a build or pull cut short leaves in the store, by the exact names the store
 * gives them: a build's work folder (`mkdtemp(build-)`), a layer being downloaded
 * (`blobs/<digest>.<random>.partial`, see blob-file.ts) and a `docker save` archive being
 * unpacked (`archives/<key>.partial`, see local-sources.ts).
 */
const LEFTOVERS: ReadonlyArray<{ under: string; name: RegExp; kind: 'dir' | 'file' }> = [
  { under: '.', name: /^build-[A-Za-z0-9]{6}$/, kind: 'dir' },
  { under: 'blobs', name: /^[a-z0-9]+-[0-9a-f]{32,}(?:\.[0-9a-f]{8})?\.partial$/, kind: 'file' },
  { under: 'archives', name: /^[0-9a-f]{24}\.partial$/, kind: 'dir' },
];

/** mke2fs argv for an ext4 image holding `dir` (pure; pinned by a test). */
/**
 * Inode tables and the journal are zeroed here, once per image, not lazily by each
 * guest's kernel after every cold boot: that would write them into every machine's
 * overlay (disk space per machine, and writes that pause a VM on a full disk).
 */
export function mkfsArgv(dir: string, image: string, sizeMb: number): string[] {
  return ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', '-E', 'root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0', '-d', dir, image, `${sizeMb}M`];
}

export class ImageStore {
  private readonly dir: string;
  private readonly client: ImageSource;
  /** Where images named by a local transport (`oci:`, `docker-archive:`) are read. */
  private readonly localSources: Record<LocalTransport, ImageSource>;
  private readonly inflight = new Map<string, Pull>();

  constructor(dir: string, client: ImageSource = new RegistryClient()) {
    this.dir = dir;
    this.client = client;
    this.localSources = { 'oci': new OciLayoutSource(), 'docker-archive': new DockerArchiveSource(join(dir, 'archives')) };
  }

  /**
   * Removes what builds and pulls killed mid-way left behind (see LEFTOVERS) and
   * answers their paths. Only for when nothing else uses the store: at start, once
   * the data directory is locked. Symbolic links and names the store does not
   * make are left alone.
   */
  async removeLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    for (const { under, name, kind } of LEFTOVERS) {
      const dir = join(this.dir, under);
      const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [];
        throw error;
      });
      for (const entry of entries) {
        const matches = name.test(entry.name) && (kind === 'dir' ? entry.isDirectory() : entry.isFile());
        if (!matches) continue;
        const path = join(dir, entry.name);
        await rm(path, { recursive: kind === 'dir', force: true });
        removed.push(path);
      }
    }
    return removed;
  }

  private source(ref: ImageRef): ImageSource {
    return isLocalImage(ref) ? this.localSources[ref.registry] : this.client;
  }

  /**
   * Pulls and builds `reference` unless it is cached; concurrent calls share one pull, and each sees its progress.
   * Once `signal` aborts, this call rejects with its reason; the shared pull is aborted when no caller waits for it any more.
   */
  async prepare(reference: string, onProgress?: (progress: PullProgress) => void, signal?: AbortSignal): Promise<PreparedImage> {
    let pull = this.inflight.get(reference);
    // A pull every caller gave up on ends before another starts: the two would write the same blob files.
    while (pull?.abort.signal.aborted) {
      await pull.result.catch(() => undefined);
      pull = this.inflight.get(reference);
    }
    signal?.throwIfAborted();
    if (!pull) {
      // The first caller listens from the start: the build reports before its first await.
      const listeners = new Set(onProgress ? [onProgress] : []);
      const abort = new AbortController();
      const result = this.build(reference, (progress) => { for (const listener of listeners) listener(progress); }, abort.signal)
        .finally(() => this.inflight.delete(reference));
      pull = { result, listeners, waiting: 0, abort };
      this.inflight.set(reference, pull);
    }
    if (onProgress) pull.listeners.add(onProgress);
    pull.waiting += 1;
    try {
      return await (signal ? untilAborted(pull.result, signal) : pull.result);
    } finally {
      pull.waiting -= 1;
      if (onProgress) pull.listeners.delete(onProgress);
      if (pull.waiting === 0 && signal?.aborted) pull.abort.abort(signal.reason);
    }
  }

  /** Resolves, downloads, unpacks and builds; `signal` is checked between the steps and cuts short requests and commands. */
  private async build(reference: string, emit: (progress: PullProgress) => void, signal: AbortSignal): Promise<PreparedImage> {
    const ref = parseImageRef(reference);
    emit({ status: 'resolving' });
    const source = this.source(ref);
    const { digest, manifest } = await source.resolve(ref, signal);
    signal.throwIfAborted();
    const home = join(this.dir, digest.replace(':', '-'));
    const rootfsPath = join(home, 'rootfs.ext4');
    const configPath = join(home, 'config.json');
    const imageRef = { ...ref, digest };
    if (existsSync(rootfsPath) && existsSync(configPath)) {
      emit({ status: 'cached', digest });
      return { imageRef, rootfsPath, config: JSON.parse(await readFile(configPath, 'utf8')) as ImageProcessConfig };
    }
    const blobs = join(this.dir, 'blobs');
    await mkdir(blobs, { recursive: true });
    const image = await source.fetchJson<OciImageConfig>(ref, manifest.config.digest, signal);
    const work = await mkdtemp(join(this.dir, 'build-'));
    try {
      const root = join(work, 'root');
      await mkdir(root);
      for (const layer of manifest.layers) {
        const blob = join(blobs, layer.digest.replace(':', '-'));
        signal.throwIfAborted();
        if (!existsSync(blob)) await source.download(ref, layer.digest, blob, downloadProgress(layer.digest, layer.size, emit), signal);
        signal.throwIfAborted();
        emit({ status: 'unpacking', layer: layer.digest });
        await applyLayer(root, blob, compressionOf(layer.mediaType));
      }
      signal.throwIfAborted();
      emit({ status: 'building' });
      const { stdout } = await run('du', ['-sb', root], { signal });
      const image4 = join(work, 'rootfs.ext4');
      await run('mke2fs', mkfsArgv(root, image4, rootfsSizeMb(Number(stdout.split('\t')[0]))), { signal });
      await mkdir(home, { recursive: true });
      await writeFile(configPath, JSON.stringify(image.config ?? {}));
      await rename(image4, rootfsPath);
      return { imageRef, rootfsPath, config: image.config ?? {} };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** Download progress for one layer: reported at most every 2 % (or 1 MiB, if more), and at the end. */
function downloadProgress(layer: string, total: number, emit: (progress: PullProgress) => void): (count: number) => void {
  const step = Math.max(1 << 20, total / 50);
  let done = 0;
  let reported = 0;
  emit({ status: 'downloading', layer, done, total });
  return (count) => {
    done += count;
    if (done - reported >= step || done === total) {
      reported = done;
      emit({ status: 'downloading', layer, done, total });
    }
  };
}
