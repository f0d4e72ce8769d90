/**
 * `/v1/apps/{app}/secrets`, as fly-go's flaps client calls it (flaps_secrets.go):
 * list, update many (a null value unsets), and one secret at a time. Answers carry
 * names, digests, times and the secrets version, never a value.
 */
import type { ControlDeps } from '../../control/ports.ts';
import { getSecret, listSecrets, rekeySecrets, type SecretListing, updateSecrets } from '../../control/secrets.ts';
import { invalid } from '../../domain/errors.ts';
import type { SecretChanges } from '../../domain/secrets.ts';
import { AppParams, SecretParams, SecretsQuery, SetSecretBody, UpdateSecretsBody } from '../schemas.ts';
import type { Api } from './types.ts';

const tags = ['Secrets'];

/** fly-go's AppSecret, without `value`. */
function present(secret: SecretListing) {
  return { name: secret.name, digest: secret.digest, created_at: new Date(secret.createdAt).toISOString(), updated_at: new Date(secret.updatedAt).toISOString() };
}

/** `values` of an update: an object of strings, or null to unset. */
function secretChanges(values: unknown): SecretChanges {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) throw invalid('values must be an object of secret names to values (null unsets)');
  for (const [name, value] of Object.entries(values)) {
    if (value !== null && typeof value !== 'string') throw invalid(`values.${/^[A-Za-z0-9_]{1,64}$/.test(name) ? name : '(a name)'} must be a string, or null to unset it`);
  }
  return values as SecretChanges;
}

function secretValue(value: unknown): string {
  if (typeof value !== 'string') throw invalid('value must be a string');
  return value;
}

export function secretRoutes(api: Api, deps: ControlDeps): void {
  api.get('/v1/apps/:app_name/secrets', { schema: { operationId: 'Secrets_list', tags, params: AppParams, querystring: SecretsQuery } }, async (request) => {
    const { secrets } = await listSecrets(deps, request.params.app_name);
    return { secrets: secrets.map(present) };
  });

  api.post('/v1/apps/:app_name/secrets', { schema: { operationId: 'Secrets_update', tags, params: AppParams, body: UpdateSecretsBody } }, async (request) => {
    const { version, secrets } = await updateSecrets(deps, request.params.app_name, secretChanges(request.body.values));
    return { secrets: secrets.map(present), version };
  });

  api.get('/v1/apps/:app_name/secrets/:secret_name', { schema: { operationId: 'Secrets_get', tags, params: SecretParams, querystring: SecretsQuery } }, async (request) => {
    return present(await getSecret(deps, request.params.app_name, request.params.secret_name));
  });

  api.post('/v1/apps/:app_name/secrets/:secret_name', { schema: { operationId: 'Secrets_set', tags, params: SecretParams, body: SetSecretBody } }, async (request) => {
    const { app_name: appName, secret_name: name } = request.params;
    const { version, secrets } = await updateSecrets(deps, appName, { [name]: secretValue(request.body.value) });
    const set = secrets.find((secret) => secret.name === name);
    return { ...(set ? present(set) : { name }), version };
  });

  // A key rotation's second step: everything sealed with an older key of the ring, sealed with the first.
  api.post('/hangar/v1/secrets/rekey', { schema: { operationId: 'Secrets_rekey', tags } }, async () => rekeySecrets(deps));

  api.delete('/v1/apps/:app_name/secrets/:secret_name', { schema: { operationId: 'Secrets_delete', tags, params: SecretParams } }, async (request) => {
    const { app_name: appName, secret_name: name } = request.params;
    await getSecret(deps, appName, name);
    const { version } = await updateSecrets(deps, appName, { [name]: null });
    return { version };
  });
}
