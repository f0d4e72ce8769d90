/**
 * Image references ("nginx", "ghcr.io/org/app:1.2", "127.0.0.1:5000/app@sha256:...")
 * split into registry, repository, tag and digest with Docker's defaults.
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
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

export function parseImageRef(reference: string): ImageRef {
  const text = reference.trim();
  if (text === '') throw invalid('config.image is required');
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
