/**
 * An app's releases: one per deploy, numbered from 1 in the order they began, each
 * with what it deployed (the image and the fly.toml, as parsed, with the content of
 * the files it read from disk), so that a later deploy can roll back to it. A
 * release begins `running` and ends once: `complete`, `failed` or `interrupted` (a
 * deploy that died, found out by the next one).
 */
import { type Static, Type } from 'typebox';
import { HangarError } from './errors.ts';
import { FlyTomlSchema, Strategy } from './app-config/fly-toml-schema.ts';

export const RELEASE_STATUSES = ['running', 'complete', 'failed', 'interrupted'] as const;
export type ReleaseStatus = typeof RELEASE_STATUSES[number];

const MAX_FILES = 100;
const MAX_FILE_BASE64 = 1024 * 1024;

/** What a release deploys: the image, the fly.toml as parsed, and its `local_path` files (base64). */
export const ReleaseSourceSchema = Type.Object({
  image: Type.String({ minLength: 1, maxLength: 1024 }),
  strategy: Strategy,
  config: FlyTomlSchema,
  files: Type.Record(Type.String({ maxLength: 4096 }), Type.String({ maxLength: MAX_FILE_BASE64, pattern: '^[A-Za-z0-9+/]*={0,2}$' }), { maxProperties: MAX_FILES }),
  description: Type.String({ maxLength: 200 }),
}, { additionalProperties: false });
export type ReleaseSource = Static<typeof ReleaseSourceSchema>;

export interface ReleaseRecord extends ReleaseSource {
  id: string;
  appName: string;
  version: number;
  status: ReleaseStatus;
  /** How it ended, when it did not complete: the deploy's error. */
  reason: string;
  /** sha256 of the config, as canonical JSON: releases that deployed the same config share it. */
  configDigest: string;
  createdAt: number;
  updatedAt: number;
}

/** How long a running release's deploy may go without a word (it says one every 10 s) before it is taken as dead. */
export const RELEASE_QUIET_MS = 60_000;

/**
 * Refuses a new release while the app's newest is `running` and its deploy spoke
 * within RELEASE_QUIET_MS: two deploys of an app do not run at once, even where no
 * machine's lease stands between them (a first deploy).
 */
export function checkNoDeployRunning(newest: ReleaseRecord | null, now: number): void {
  if (newest?.status !== 'running' || now - newest.updatedAt >= RELEASE_QUIET_MS) return;
  throw new HangarError('conflict', `release v${newest.version} of ${newest.appName} is being deployed: wait for its deploy to end `
    + `(a deploy that died counts as stopped ${RELEASE_QUIET_MS / 1000} s after its last word)`);
}

/** A running release whose deploy says it is still at work. */
export function touchRelease(release: ReleaseRecord, at: number): ReleaseRecord {
  if (release.status !== 'running') throw new HangarError('conflict', `release v${release.version} of ${release.appName} has ended: it is ${release.status}`);
  return { ...release, updatedAt: at };
}

/** The record a release becomes once it ends; refused unless it is still `running`. */
export function endRelease(release: ReleaseRecord, status: Exclude<ReleaseStatus, 'running'>, reason: string, at: number): ReleaseRecord {
  if (release.status !== 'running') {
    throw new HangarError('conflict', `release v${release.version} of ${release.appName} has already ended: it is ${release.status}`);
  }
  return { ...release, status, reason: status === 'complete' ? '' : reason, updatedAt: at };
}

/** JSON with object keys sorted, so that equal configs read the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
