/**
 * Images on the host's disk, read the way a registry is: an OCI image layout
 * (`oci:/dir[:tag]`: index.json and blobs/sha256/…) and a `docker save` tarball
 * (`docker-archive:/file.tar[:name:tag]`: manifest.json, a config and layer tars).
 * A docker archive has no manifest digest, so its image ID (the config's digest)
 * stands in for it.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, normalize } from 'node:path';
import { x as extract } from 'tar';
import type { ImageRef } from '../domain/image-ref.ts';
import { saveVerified, sha256Of, sha256OfFile } from './blob-file.ts';
import { chooseAmd64, type Descriptor, type ImageManifest, type ImageSource, RegistryError, type ResolvedImage } from './registry-client.ts';

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REF_NAME = 'org.opencontainers.image.ref.name';

async function readJsonFile<T>(path: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new RegistryError(`${what}: ${path} is missing`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RegistryError(`${what}: ${path} is not JSON`);
  }
}

export class OciLayoutSource implements ImageSource {
  async resolve(ref: ImageRef): Promise<ResolvedImage> {
    const dir = ref.repository;
    const index = await readJsonFile<{ manifests?: Descriptor[] }>(join(dir, 'index.json'), `oci:${dir}`);
    let descriptor = pickTagged(index.manifests ?? [], ref.tag, `oci:${dir}`, (m) => m.annotations?.[REF_NAME]);
    for (let depth = 0; depth < 3; depth++) {
      const body = await this.blob(dir, descriptor.digest);
      const document = JSON.parse(body.toString('utf8')) as { manifests?: Descriptor[] } & Partial<ImageManifest>;
      if (document.manifests) {
        descriptor = chooseAmd64(document.manifests, `oci:${dir}`);
        continue;
      }
      if (!document.config || !document.layers) throw new RegistryError(`oci:${dir}: unsupported manifest type ${document.mediaType ?? descriptor.mediaType}`);
      return { digest: descriptor.digest, manifest: { mediaType: document.mediaType ?? descriptor.mediaType, config: document.config, layers: document.layers } };
    }
    throw new RegistryError(`oci:${dir}: indexes nest too deeply`);
  }

  async fetchJson<T>(ref: ImageRef, digest: string): Promise<T> {
    return JSON.parse((await this.blob(ref.repository, digest)).toString('utf8')) as T;
  }

  async download(ref: ImageRef, digest: string, path: string, onBytes?: (count: number) => void): Promise<void> {
    await saveVerified(createReadStream(blobPath(ref.repository, digest)), digest, path, onBytes);
  }

  private async blob(dir: string, digest: string): Promise<Buffer> {
    const body = await readFile(blobPath(dir, digest)).catch(() => {
      throw new RegistryError(`oci:${dir}: blob ${digest} is missing`);
    });
    if (sha256Of(body) !== digest) throw new RegistryError(`oci:${dir}: blob ${digest} does not match its digest`);
    return body;
  }
}

function blobPath(dir: string, digest: string): string {
  if (!DIGEST.test(digest)) throw new RegistryError(`unsupported digest ${digest}`);
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** The entry whose name is `tag`, or the only entry when no tag is given. */
function pickTagged<T>(entries: T[], tag: string, what: string, names: (entry: T) => string | string[] | undefined): T {
  const list = (entry: T) => [names(entry) ?? []].flat();
  if (tag) {
    const found = entries.find((entry) => list(entry).some((name) => name === tag || name.endsWith(`/${tag}`)));
    if (!found) throw new RegistryError(`${what} has no image named "${tag}" (it has: ${entries.flatMap(list).join(', ') || 'no names'})`);
    return found;
  }
  if (entries.length !== 1) throw new RegistryError(`${what} holds ${entries.length} images; name one (${entries.flatMap(list).join(', ')})`);
  return entries[0] as T;
}

interface ArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

interface ResolvedArchive extends ResolvedImage {
  /** Digest → file inside the unpacked archive. */
  files: Record<string, string>;
}

export class DockerArchiveSource implements ImageSource {
  private readonly workDir: string;
  private readonly files = new Map<string, string>();

  constructor(workDir: string) {
    this.workDir = workDir;
  }

  async resolve(ref: ImageRef): Promise<ResolvedImage> {
    const what = `docker-archive:${ref.repository}`;
    const dir = await this.unpacked(ref.repository, what);
    const entries = await readJsonFile<ArchiveEntry[]>(join(dir, 'manifest.json'), what);
    const entry = pickTagged(entries, ref.tag, what, (e) => e.RepoTags ?? undefined);
    const cache = join(dir, `.hangar-${sha256Of(Buffer.from(entry.Config)).slice(7, 23)}.json`);
    const resolved = await readFile(cache, 'utf8').then((text) => JSON.parse(text) as ResolvedArchive, () => undefined)
      ?? await this.describeEntry(dir, entry, cache);
    for (const [digest, file] of Object.entries(resolved.files)) this.files.set(digest, file);
    return { digest: resolved.digest, manifest: resolved.manifest };
  }

  async fetchJson<T>(_ref: ImageRef, digest: string): Promise<T> {
    return JSON.parse(await readFile(this.file(digest), 'utf8')) as T;
  }

  async download(_ref: ImageRef, digest: string, path: string, onBytes?: (count: number) => void): Promise<void> {
    await saveVerified(createReadStream(this.file(digest)), digest, path, onBytes);
  }

  private file(digest: string): string {
    const file = this.files.get(digest);
    if (!file) throw new RegistryError(`blob ${digest} is not in any resolved archive`);
    return file;
  }

  /** A manifest for an archive entry: digests of its config and layers, computed once and kept beside it. */
  private async describeEntry(dir: string, entry: ArchiveEntry, cache: string): Promise<ResolvedArchive> {
    const inside = (name: string) => {
      const path = normalize(join(dir, name));
      if (!path.startsWith(`${dir}/`)) throw new RegistryError(`archive names a file outside itself: ${name}`);
      return path;
    };
    const configFile = inside(entry.Config);
    const config: Descriptor = { mediaType: 'application/vnd.docker.container.image.v1+json', digest: await sha256OfFile(configFile), size: (await stat(configFile)).size };
    const files: Record<string, string> = { [config.digest]: configFile };
    const layers: Descriptor[] = [];
    for (const name of entry.Layers) {
      const file = inside(name);
      const digest = await sha256OfFile(file);
      files[digest] = file;
      layers.push({ mediaType: await layerMediaType(file), digest, size: (await stat(file)).size });
    }
    const resolved: ResolvedArchive = { digest: config.digest, manifest: { mediaType: 'docker-archive', config, layers }, files };
    await writeFile(cache, JSON.stringify(resolved));
    return resolved;
  }

  /** The archive unpacked into the work dir, once per (path, size, mtime). */
  private async unpacked(file: string, what: string): Promise<string> {
    const info = await stat(file).catch(() => {
      throw new RegistryError(`${what}: no such file`);
    });
    const key = createHash('sha256').update(`${file}\0${info.size}\0${info.mtimeMs}`).digest('hex').slice(0, 24);
    const dir = join(this.workDir, key);
    if (await stat(join(dir, 'manifest.json')).then(() => true, () => false)) return dir;
    const partial = `${dir}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    try {
      await extract({ file, cwd: partial, preservePaths: false });
      await rm(dir, { recursive: true, force: true });
      await rename(partial, dir);
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      throw new RegistryError(`${what}: cannot unpack: ${(error as Error).message}`);
    }
    return dir;
  }
}

/** Layer tars in an archive may be plain (docker save) or compressed; the first bytes tell. */
async function layerMediaType(file: string): Promise<string> {
  const handle = await open(file);
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return 'application/vnd.oci.image.layer.v1.tar+gzip';
    if (head.readUInt32LE(0) === 0xfd2fb528) return 'application/vnd.oci.image.layer.v1.tar+zstd';
    return 'application/vnd.oci.image.layer.v1.tar';
  } finally {
    await handle.close();
  }
}
