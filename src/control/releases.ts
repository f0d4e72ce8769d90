/**
 * An app's releases (domain/releases.ts): begun by a deploy with what it deploys,
 * ended by it once, listed newest first. The config is checked as a deploy checks
 * it, so that a rollback to a release deploys a config that was accepted.
 */
import { createHash } from 'node:crypto';
import { checkFlyToml } from '../domain/app-config/machine-configs.ts';
import { appNotFound, HangarError } from '../domain/errors.ts';
import { canonicalJson, checkNoDeployRunning, endRelease, type ReleaseRecord, type ReleaseSource, type ReleaseStatus, touchRelease } from '../domain/releases.ts';
import { AppGoneError } from '../store/errors.ts';
import { appDeletingError, getApp } from './app-lookup.ts';
import type { ControlDeps } from './ports.ts';

/** Releases are documents with their config and files: a listing reads at most this many. */
export const MAX_RELEASES_LISTED = 100;

/**
 * Begins a release. Refused while another deploy of the app is at work, unless this
 * one holds its machines' leases (`leased`): then the leases keep other deploys out,
 * and a running release is one whose deploy died.
 */
export async function beginRelease(deps: ControlDeps, appName: string, source: ReleaseSource, leased = false): Promise<ReleaseRecord> {
  checkFlyToml(source.config);
  await getApp(deps, appName);
  const configDigest = createHash('sha256').update(canonicalJson({ config: source.config, files: source.files })).digest('hex');
  const now = deps.clock.now();
  try {
    const release = await deps.store.createRelease(appName, (version, newest) => {
      if (!leased) checkNoDeployRunning(newest, now);
      return { ...source, id: deps.ids.ulid().toLowerCase(), appName, version, status: 'running', reason: '', configDigest, createdAt: now, updatedAt: now };
    });
    deps.log.info({ app: appName, version: release.version, image: release.image }, `release v${release.version} of ${appName} begun`);
    return release;
  } catch (error) {
    if (error instanceof AppGoneError) throw error.why === 'deleting' ? appDeletingError(appName) : appNotFound(appName);
    throw error;
  }
}

export async function finishRelease(deps: ControlDeps, appName: string, version: number, status: Exclude<ReleaseStatus, 'running'>, reason: string): Promise<ReleaseRecord> {
  const ended = await deps.store.changeRelease(appName, version, (now) => endRelease(now, status, reason, deps.clock.now()));
  if (!ended) throw releaseNotFound(appName, version);
  deps.log.info({ app: appName, version, status }, `release v${version} of ${appName} ${status}`);
  return ended;
}

/** The deploy of a running release says it is still at work (see checkNoDeployRunning). */
export async function touchRunningRelease(deps: ControlDeps, appName: string, version: number): Promise<ReleaseRecord> {
  const touched = await deps.store.changeRelease(appName, version, (now) => touchRelease(now, deps.clock.now()));
  if (!touched) throw releaseNotFound(appName, version);
  return touched;
}

/** A release found by its id alone (flyctl names releases so). */
export async function findRelease(deps: ControlDeps, id: string): Promise<ReleaseRecord> {
  const release = await deps.store.findRelease(id);
  if (!release) throw new HangarError('not_found', 'release not found');
  return release;
}

export async function listReleases(deps: ControlDeps, appName: string, limit: number): Promise<ReleaseRecord[]> {
  await getApp(deps, appName);
  return deps.store.listReleases(appName, Math.min(limit, MAX_RELEASES_LISTED));
}

export async function getRelease(deps: ControlDeps, appName: string, version: number): Promise<ReleaseRecord> {
  await getApp(deps, appName);
  const release = await deps.store.readRelease(appName, version);
  if (!release) throw releaseNotFound(appName, version);
  return release;
}

function releaseNotFound(appName: string, version: number): HangarError {
  return new HangarError('not_found', `release not found: app ${appName} has no release v${version}`);
}
