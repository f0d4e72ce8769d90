/**
 * Pulls from OCI distribution registries: manifests (Docker v2 and OCI, with
 * lists/indexes resolved to linux/amd64) and blobs (checked against their digest),
 * anonymously or with a bearer token fetched on a 401 challenge.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ImageRef } from '../domain/image-ref.ts';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

const ACCEPT = Object.values(MEDIA).join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface ImageManifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ResolvedImage {
  /** Digest of the platform manifest (what `image_ref.digest` reports). */
  digest: string;
  manifest: ImageManifest;
}

export interface RegistryOptions {
  /** Basic credentials for a registry host, used to obtain bearer tokens. */
  credentials?: (registry: string) => { username: string; password: string } | undefined;
  timeoutMs?: number;
}

export class RegistryError extends Error {}

/** Docker Hub's API host; loopback registries speak plain HTTP, as Docker allows. */
export function registryBase(registry: string): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io';
  const host = registry.replace(/:\d+$/, '');
  const plain = host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  return `${plain ? 'http' : 'https'}://${registry}`;
}

export class RegistryClient {
  private readonly options: RegistryOptions;
  private readonly tokens = new Map<string, string>();

  constructor(options: RegistryOptions = {}) {
    this.options = options;
  }

  /** Resolves a reference to the linux/amd64 image manifest. */
  async resolve(ref: ImageRef): Promise<ResolvedImage> {
    let reference = ref.digest || ref.tag;
    for (let depth = 0; depth < 3; depth++) {
      const response = await this.get(ref, `/manifests/${reference}`, ACCEPT);
      const body = Buffer.from(await response.arrayBuffer());
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (reference.startsWith('sha256:') && reference !== digest) throw new RegistryError(`manifest digest mismatch: asked ${reference}, got ${digest}`);
      const document = JSON.parse(body.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[] } & Partial<ImageManifest>;
      const mediaType = document.mediaType ?? response.headers.get('content-type') ?? '';
      if (document.manifests) {
        const chosen = document.manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64');
        if (!chosen) throw new RegistryError(`${describe(ref)} has no linux/amd64 image`);
        reference = chosen.digest;
        continue;
      }
      if (!document.config || !document.layers) throw new RegistryError(`${describe(ref)}: unsupported manifest type ${mediaType}`);
      return { digest, manifest: { mediaType, config: document.config, layers: document.layers } };
    }
    throw new RegistryError(`${describe(ref)}: manifest lists nest too deeply`);
  }

  /** Downloads a blob to `path`, verifying its digest; nothing is left at `path` on failure. */
  async download(ref: ImageRef, digest: string, path: string): Promise<void> {
    const response = await this.get(ref, `/blobs/${digest}`, '*/*');
    if (!response.body) throw new RegistryError(`blob ${digest}: empty response`);
    const hash = createHash('sha256');
    const partial = `${path}.partial`;
    const tap = new Transform({ transform(chunk, _enc, done) { hash.update(chunk); done(null, chunk); } });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream), tap, createWriteStream(partial));
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) throw new RegistryError(`blob digest mismatch: expected ${digest}, got ${actual}`);
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }

  async fetchJson<T>(ref: ImageRef, digest: string): Promise<T> {
    const response = await this.get(ref, `/blobs/${digest}`, '*/*');
    const body = Buffer.from(await response.arrayBuffer());
    const actual = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (actual !== digest) throw new RegistryError(`blob digest mismatch: expected ${digest}, got ${actual}`);
    return JSON.parse(body.toString('utf8')) as T;
  }

  private async get(ref: ImageRef, path: string, accept: string): Promise<Response> {
    const url = `${registryBase(ref.registry)}/v2/${ref.repository}${path}`;
    const key = `${ref.registry}/${ref.repository}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = this.tokens.get(key);
      const response = await fetch(url, {
        headers: { accept, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10 * 60_000),
        redirect: 'follow',
      });
      if (response.status === 401 && attempt === 0) {
        await response.arrayBuffer();
        this.tokens.set(key, await this.token(ref, response.headers.get('www-authenticate') ?? ''));
        continue;
      }
      if (!response.ok) {
        const text = await response.text();
        throw new RegistryError(`${describe(ref)}: GET ${path} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
      }
      return response;
    }
    throw new RegistryError(`${describe(ref)}: not authorized`);
  }

  /** Answers a `Bearer realm=…,service=…,scope=…` challenge. */
  private async token(ref: ImageRef, challenge: string): Promise<string> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!/^bearer/i.test(challenge) || !params.realm) throw new RegistryError(`${describe(ref)}: unsupported auth challenge "${challenge}"`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${ref.repository}:pull`);
    const credentials = this.options.credentials?.(ref.registry);
    const headers: Record<string, string> = credentials
      ? { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` }
      : {};
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new RegistryError(`${describe(ref)}: token request answered ${response.status}`);
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`${describe(ref)}: token response has no token`);
    return token;
  }
}

export function describe(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
