/**
 * `fly secrets set|unset|list`, replayed call by call in flyctl's order
 * (internal/command/secrets: set.go, unset.go, secrets.go, list.go).
 */
import assert from 'node:assert/strict';
import { type Call, flyAppsMachines, ok, required } from './call.ts';
import { flyRestartForSecrets, type Release } from './deploy.ts';

export interface SecretsChanged {
  /** What flyctl keeps as the app's `app_secrets_minvers`, sent with later machine changes. */
  version: number;
  printed: string[];
  /** The release the machines were restarted by, on a deployed app. */
  release?: Release;
}

/**
 * `fly secrets set K=V…` (values) or `fly secrets unset K…` (nulls): the change, then
 * `DeploySecrets`: nothing more on an app never deployed, else every machine
 * restarted in a release of the deployed config.
 */
export async function flySecretsChange(call: Call, app: string, values: Record<string, string | null>): Promise<SecretsChanged> {
  const compact = (await required(call, 'GetAppCompact', { appName: app })).appcompact;
  const { version } = await ok(call('POST', `/v1/apps/${app}/secrets`, { values }));
  assert.ok(Number.isInteger(version), 'the version flyctl stores');
  const machines = await flyAppsMachines(call, app);
  if (!compact.deployed && machines.length === 0) return { version, printed: ['Secrets are staged for the first deployment'] };
  const { release } = await flyRestartForSecrets(call, app, version);
  return { version, printed: [], release };
}

export type SecretStatus = 'Deployed' | 'Staged' | 'Partial' | 'Unknown';

/**
 * `fly secrets list`: the secrets at the version flyctl last wrote, and each one's
 * status computed as flyctl computes it: deployed to a machine when it was updated
 * no later than the release that machine runs was made.
 */
export async function flySecretsList(call: Call, app: string, minVersion: number): Promise<Array<{ name: string; digest: string; status: SecretStatus }>> {
  const { secrets } = await ok(call('GET', `/v1/apps/${app}/secrets?version=${minVersion}`));
  const machines = (await flyAppsMachines(call, app)).filter((machine) => !['destroyed', 'destroying'].includes(machine.state));
  const versions = machines.map((machine) => machine.config.metadata?.fly_release_version as string | undefined);
  const { releases } = await ok(call('GET', `/api/v1/apps/${app}/releases?limit=20`));
  const made = new Map<string, number>(releases.map((release: { version: number; created_at: string }) => [String(release.version), Date.parse(release.created_at)]));
  return secrets.map((secret: { name: string; digest: string; updated_at?: string }) => {
    const updated = secret.updated_at ? Date.parse(secret.updated_at) : NaN;
    let status: SecretStatus;
    if (machines.length === 0) status = 'Staged';
    else if (Number.isNaN(updated)) status = 'Unknown';
    else {
      const having = versions.filter((version) => version !== undefined && made.has(version) && updated <= (made.get(version) ?? 0)).length;
      status = having === 0 ? 'Staged' : having === machines.length ? 'Deployed' : 'Partial';
    }
    return { name: secret.name, digest: secret.digest, status };
  });
}
