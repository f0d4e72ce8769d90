/**
 * App secrets (Fly's `/v1/apps/{app}/secrets`): set and unset in changes that each
 * move the app's secrets version on by one, listed by name and digest, and opened
 * only to be given to a machine that boots (see secretsFor). A value never leaves
 * through the API, a log line or an error.
 */
import { appNotFound, HangarError, invalid } from '../domain/errors.ts';
import type { SecretSealer } from '../domain/ports.ts';
import { checkSecretChanges, type SecretChanges, type SecretRecord } from '../domain/secrets.ts';
import type { StoredSecrets } from '../store/store.ts';
import { AppGoneError } from '../store/errors.ts';
import { appDeletingError, getApp } from './app-lookup.ts';
import type { ControlDeps } from './ports.ts';

/** A secret as listed: never its value. */
export interface SecretListing {
  name: string;
  digest: string;
  createdAt: number;
  updatedAt: number;
}

export interface SecretsListing {
  version: number;
  secrets: SecretListing[];
}

function sealer(deps: ControlDeps): SecretSealer {
  if (!deps.secrets) {
    throw new HangarError('invalid_state', 'this hangar has no secrets key: app secrets can be neither set nor given to machines',
      'give every replica and host the same key: --secrets-key-file PATH or HANGAR_SECRETS_KEY (see the README)');
  }
  return deps.secrets;
}

function listing(stored: StoredSecrets): SecretsListing {
  return { version: stored.version, secrets: stored.secrets.map(({ name, digest, createdAt, updatedAt }) => ({ name, digest, createdAt, updatedAt })) };
}

export async function listSecrets(deps: ControlDeps, appName: string): Promise<SecretsListing> {
  await getApp(deps, appName);
  return listing(await deps.store.readSecrets(appName));
}

export async function getSecret(deps: ControlDeps, appName: string, name: string): Promise<SecretListing & { version: number }> {
  const { version, secrets } = await listSecrets(deps, appName);
  const found = secrets.find((secret) => secret.name === name);
  if (!found) throw new HangarError('not_found', `secret not found: app ${appName} has no secret of that name`);
  return { ...found, version };
}

/** Sets (a value) and unsets (`null`) secrets in one change: all of it or, if refused, nothing. */
export async function updateSecrets(deps: ControlDeps, appName: string, changes: SecretChanges): Promise<SecretsListing> {
  const keys = sealer(deps);
  await getApp(deps, appName);
  const now = deps.clock.now();
  try {
    const stored = await deps.store.changeSecrets(appName, (current) => {
      checkSecretChanges(changes, current.secrets.map((secret) => secret.name));
      const set: SecretRecord[] = [];
      for (const [name, value] of Object.entries(changes)) {
        if (value === null) continue;
        const before = current.secrets.find((secret) => secret.name === name);
        set.push({ name, sealed: keys.seal(appName, name, value), digest: keys.digest(appName, value), createdAt: before?.createdAt ?? now, updatedAt: now });
      }
      return { set, unset: Object.keys(changes).filter((name) => changes[name] === null) };
    });
    deps.log.info({ app: appName, version: stored.version, names: Object.keys(changes) }, `secrets of app ${appName} changed (version ${stored.version})`);
    return listing(stored);
  } catch (error) {
    if (error instanceof AppGoneError) throw error.why === 'deleting' ? appDeletingError(appName) : appNotFound(appName);
    throw error;
  }
}

/**
 * The app's secrets, opened, for a machine that boots: by name. Refused, saying why,
 * if the app has secrets and this process cannot open them (no key, or not the key
 * they were sealed with): a machine must not boot without the secrets it was given.
 */
export async function secretsFor(store: Pick<ControlDeps['store'], 'readSecretRecords'>, keys: SecretSealer | undefined, appName: string): Promise<Map<string, string>> {
  const secrets = await store.readSecretRecords(appName);
  if (secrets.length === 0) return new Map();
  if (!keys) throw new Error(`app ${appName} has secrets, and this host has no secrets key to open them (--secrets-key-file or HANGAR_SECRETS_KEY)`);
  return new Map(secrets.map((secret) => [secret.name, keys.open(appName, secret.name, secret.sealed)]));
}

/**
 * Seals every secret sealed with an older key of the ring with the current one (a
 * key rotation's second step), each only if it is unchanged since it was read.
 * Answers how many were sealed again.
 */
export async function rekeySecrets(deps: ControlDeps): Promise<{ resealed: number; apps: number }> {
  const keys = sealer(deps);
  let resealed = 0;
  const apps = await deps.store.listAppsWithSecrets();
  for (const appName of apps) {
    for (const secret of (await deps.store.readSecrets(appName)).secrets) {
      if (keys.sealedWithCurrent(secret.sealed)) continue;
      const value = keys.open(appName, secret.name, secret.sealed);
      if (await deps.store.resealSecret(appName, secret.name, secret.sealed, keys.seal(appName, secret.name, value))) resealed++;
    }
  }
  deps.log.info({ resealed, apps: apps.length }, `secrets sealed again with the current key: ${resealed}`);
  return { resealed, apps: apps.length };
}

/**
 * A create's or update's `min_secrets_version` and `skip_secrets`: every boot here
 * reads the app's secrets as they are then, so a version the app has reached is
 * always met; one it has not is refused, as is booting without the app's secrets.
 */
export async function checkSecretsAsked(deps: ControlDeps, appName: string, body: { min_secrets_version?: number; skip_secrets?: boolean }): Promise<void> {
  if (body.skip_secrets === true) throw invalid('skip_secrets is not supported: set config.processes[0].ignore_app_secrets to boot without the app\'s secrets');
  if (body.min_secrets_version === undefined || body.min_secrets_version === 0) return;
  await getApp(deps, appName);
  const { version } = await deps.store.readSecrets(appName);
  if (body.min_secrets_version > version) throw invalid(`min_secrets_version ${body.min_secrets_version}: the secrets of app ${appName} are at version ${version}`);
}
