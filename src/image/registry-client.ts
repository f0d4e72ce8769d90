/**
 * Pulls from OCI distribution registries: manifests (Docker v2 and OCI, with
 * lists/indexes resolved to linux/amd64) and blobs (checked against their digest),
 * anonymously or with a bearer token fetched on a 401 challenge.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ImageRef } from '../domain/image-ref.ts';
import { DigestMismatch, saveVerified, sha256Of } from './blob-file.ts';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

const ACCEPT = Object.values(MEDIA).join(', ');
/** The most read of a registry's answer, by kind: whoever names the registry may be hostile. */
const MAX_BYTES = { manifest: 4 << 20, config: 16 << 20, token: 1 << 20, error: 4 << 10 } as const;
/** Bearer tokens kept (one per registry and repository) before they are all dropped. */
const MAX_TOKENS = 1000;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
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

/**
 * Where images come from: a registry, or a local OCI layout or docker-archive file.
 * `signal` cuts a registry's requests short; local sources read the disk and need not heed it.
 */
export interface ImageSource {
  /** Resolves a reference to the linux/amd64 image manifest. */
  resolve(ref: ImageRef, signal?: AbortSignal): Promise<ResolvedImage>;
  fetchJson<T>(ref: ImageRef, digest: string, signal?: AbortSignal): Promise<T>;
  /** Saves a blob at `path`, verified against its digest; `onBytes` sees progress. */
  download(ref: ImageRef, digest: string, path: string, onBytes?: (count: number) => void, signal?: AbortSignal): Promise<void>;
}

/** From a manifest list / OCI index, the linux/amd64 entry. */
export function chooseAmd64(manifests: Descriptor[], name: string): Descriptor {
  const chosen = manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64');
  if (!chosen) throw new RegistryError(`${name} has no linux/amd64 image`);
  return chosen;
}

/** Docker Hub's API host; loopback registries speak plain HTTP, as Docker allows. */
export function registryBase(registry: string): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io';
  const host = registry.replace(/:\d+$/, '');
  const plain = host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  return `${plain ? 'http' : 'https'}://${registry}`;
}

export class RegistryClient implements ImageSource {
  private readonly options: RegistryOptions;
  private readonly tokens = new Map<string, string>();

  constructor(options: RegistryOptions = {}) {
    this.options = options;
  }

  /** Resolves a reference to the linux/amd64 image manifest. */
  async resolve(ref: ImageRef, signal?: AbortSignal): Promise<ResolvedImage> {
    let reference = ref.digest || ref.tag;
    for (let depth = 0; depth < 3; depth++) {
      const response = await this.get(ref, `/manifests/${reference}`, ACCEPT, signal);
      const body = await readCapped(response, MAX_BYTES.manifest, `${describe(ref)}: manifest`);
      const digest = sha256Of(body);
      if (reference.startsWith('sha256:') && reference !== digest) throw new RegistryError(`manifest digest mismatch: asked ${reference}, got ${digest}`);
      const document = JSON.parse(body.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[] } & Partial<ImageManifest>;
      const mediaType = document.mediaType ?? response.headers.get('content-type') ?? '';
      if (document.manifests) {
        reference = chooseAmd64(document.manifests, describe(ref)).digest;
        continue;
      }
      if (!document.config || !document.layers) throw new RegistryError(`${describe(ref)}: unsupported manifest type ${mediaType}`);
      return { digest, manifest: { mediaType, config: document.config, layers: document.layers } };
    }
    throw new RegistryError(`${describe(ref)}: manifest lists nest too deeply`);
  }

  /** Downloads a blob to `path`, verifying its digest; nothing is left at `path` on failure. */
  async download(ref: ImageRef, digest: string, path: string, onBytes?: (count: number) => void, signal?: AbortSignal): Promise<void> {
    const response = await this.get(ref, `/blobs/${digest}`, '*/*', signal);
    if (!response.body) throw new RegistryError(`blob ${digest}: empty response`);
    try {
      await saveVerified(Readable.fromWeb(response.body as WebReadableStream), digest, path, onBytes);
    } catch (error) {
      throw error instanceof DigestMismatch ? new RegistryError(error.message) : error;
    }
  }

  async fetchJson<T>(ref: ImageRef, digest: string, signal?: AbortSignal): Promise<T> {
    const response = await this.get(ref, `/blobs/${digest}`, '*/*', signal);
    const body = await readCapped(response, MAX_BYTES.config, `${describe(ref)}: blob ${digest}`);
    const actual = sha256Of(body);
    if (actual !== digest) throw new RegistryError(`blob digest mismatch: expected ${digest}, got ${actual}`);
    return JSON.parse(body.toString('utf8')) as T;
  }

  private async get(ref: ImageRef, path: string, accept: string, signal: AbortSignal | undefined): Promise<Response> {
    const url = `${registryBase(ref.registry)}/v2/${ref.repository}${path}`;
    const key = `${ref.registry}/${ref.repository}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = this.tokens.get(key);
      const response = await fetch(url, {
        headers: { accept, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        signal: timeLimit(this.options.timeoutMs ?? 10 * 60_000, signal),
        redirect: 'follow',
      });
      if (response.status === 401 && attempt === 0) {
        await response.body?.cancel();
        if (this.tokens.size >= MAX_TOKENS) this.tokens.clear();
        this.tokens.set(key, await this.token(ref, response.headers.get('www-authenticate') ?? '', signal));
        continue;
      }
      if (!response.ok) {
        const text = (await readCapped(response, MAX_BYTES.error, '', true)).toString('utf8');
        throw new RegistryError(`${describe(ref)}: GET ${path} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
      }
      return response;
    }
    throw new RegistryError(`${describe(ref)}: not authorized`);
  }

  /** Answers a `Bearer realm=…,service=…,scope=…` challenge. */
  private async token(ref: ImageRef, challenge: string, signal: AbortSignal | undefined): Promise<string> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!/^bearer/i.test(challenge) || !params.realm) throw new RegistryError(`${describe(ref)}: unsupported auth challenge "${challenge}"`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${ref.repository}:pull`);
    const credentials = this.options.credentials?.(ref.registry);
    const headers: Record<string, string> = credentials
      ? { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` }
      : {};
    const response = await fetch(url, { headers, signal: timeLimit(30_000, signal) });
    if (!response.ok) throw new RegistryError(`${describe(ref)}: token request answered ${response.status}`);
    const body = JSON.parse((await readCapped(response, MAX_BYTES.token, `${describe(ref)}: token response`)).toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`${describe(ref)}: token response has no token`);
    return token;
  }
}

/**
 * The body of `response`, up to `max` bytes: more is an error, or (`truncate`) is
 * left unread. Nothing beyond the limit is held in memory.
 */
async function readCapped(response: Response, max: number, what: string, truncate = false): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (!truncate && declared > max) {
    await response.body?.cancel();
    throw new RegistryError(`${what} is ${declared} bytes, more than the ${max} read`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    const bytes = Buffer.from(chunk as Uint8Array);
    // Leaving the loop cancels the rest of the body.
    if (size + bytes.length > max) {
      if (!truncate) throw new RegistryError(`${what} is more than the ${max} bytes read`);
      chunks.push(bytes.subarray(0, max - size));
      break;
    }
    chunks.push(bytes);
    size += bytes.length;
  }
  return Buffer.concat(chunks);
}

/** A request's own time limit, cut short by the caller's signal if there is one. */
function timeLimit(ms: number, signal: AbortSignal | undefined): AbortSignal {
  return signal ? AbortSignal.any([AbortSignal.timeout(ms), signal]) : AbortSignal.timeout(ms);
}

export function describe(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
