/**
 * Image references ("nginx", "ghcr.io/org/app:1.2", "127.0.0.1:5000/app@sha256:...")
 * split into registry, repository, tag and digest with Docker's defaults; and images
 * on the host's disk in skopeo's transport syntax: `oci:/dir[:tag]` (an OCI image
 * layout) and `docker-archive:/file.tar[:name:tag]` (`docker save` output), whose
 * "registry" is the transport and "repository" the path.
 */
import { invalid } from './errors.ts';

export interface ImageRef {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  labels: Record<string, string>;
}

const DOCKER_HUB = 'docker.io';
export const LOCAL_TRANSPORTS = ['oci', 'docker-archive'] as const;
export type LocalTransport = (typeof LOCAL_TRANSPORTS)[number];
const LOCAL = new RegExp(`^(${LOCAL_TRANSPORTS.join('|')}):([^:]*)(?::(.*))?$`);
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

export function parseImageRef(reference: string): ImageRef {
  const text = reference.trim();
  if (text === '') throw invalid('config.image is required');
  const local = LOCAL.exec(text);
  if (local) return parseLocalRef(reference, local[1] as string, local[2] as string, local[3] ?? '');
  let rest = text;
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(`config.image: invalid digest in "${reference}"`);
  }
  let tag = '';
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`config.image: invalid tag in "${reference}"`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const head = rest.slice(0, firstSlash);
    if (head.includes('.') || head.includes(':') || head === 'localhost') {
      registry = head;
      repository = rest.slice(firstSlash + 1);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!repository.split('/').every((part) => COMPONENT.test(part))) {
    throw invalid(`config.image: invalid repository in "${reference}"`);
  }
  if (!tag && !digest) tag = 'latest';
  return { registry, repository, tag, digest, labels: {} };
}

function parseLocalRef(reference: string, transport: string, path: string, tag: string): ImageRef {
  if (!path.startsWith('/')) throw invalid(`config.image: "${reference}" needs an absolute path after "${transport}:"`);
  if (path.split('/').includes('..')) throw invalid(`config.image: "${reference}" must not contain ".."`);
  return { registry: transport, repository: path, tag, digest: '', labels: {} };
}

export function isLocalImage(ref: ImageRef): ref is ImageRef & { registry: LocalTransport } {
  return (LOCAL_TRANSPORTS as readonly string[]).includes(ref.registry);
}

/** The reference as text, pinned to its digest: what `FLY_IMAGE_REF` carries. */
export function pinnedReference(ref: ImageRef): string {
  return isLocalImage(ref) ? `${ref.registry}:${ref.repository}@${ref.digest}` : `${ref.registry}/${ref.repository}@${ref.digest}`;
}
