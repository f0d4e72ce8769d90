/**
 * App secrets, as Fly's Machines API keeps them: named values of an app, set and
 * unset together in one change that moves the app's secrets version on by one,
 * given to every machine of the app when it boots, as environment variables and
 * as files (`config.files[].secret_name`). Only digests ever leave through the API.
 */
import { invalid } from './errors.ts';
import type { MachineConfig } from './config.ts';

/** A name the guest can take as an environment variable. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
export const MAX_SECRET_BYTES = 64 * 1024;
export const MAX_SECRETS_PER_APP = 1000;
const UTF8 = new TextEncoder();

/** A secret as stored: its value sealed (system/secret-keys.ts), never in clear. */
export interface SecretRecord {
  name: string;
  sealed: string;
  digest: string;
  createdAt: number;
  updatedAt: number;
}

/** One change to an app's secrets: a value sets, `null` unsets. */
export type SecretChanges = Record<string, string | null>;

/**
 * Refuses a change that names a secret badly, holds a value over 64 KiB, or would
 * leave the app with more than 1,000 secrets (`current`: the names it has now).
 */
export function checkSecretChanges(changes: SecretChanges, current: readonly string[]): void {
  const names = Object.keys(changes);
  if (names.length === 0) throw invalid('values: name at least one secret to set or unset');
  for (const name of names) {
    if (!SECRET_NAME.test(name)) {
      throw invalid(`values.${printable(name)}: a secret's name is letters, digits and _, not starting with a digit (it becomes an environment variable)`);
    }
    const value = changes[name];
    if (value !== null && UTF8.encode(value).length > MAX_SECRET_BYTES) {
      throw invalid(`values.${name}: a secret's value is at most ${MAX_SECRET_BYTES} bytes`);
    }
  }
  const after = new Set(current);
  for (const name of names) {
    if (changes[name] === null) after.delete(name);
    else after.add(name);
  }
  if (after.size > MAX_SECRETS_PER_APP) throw invalid(`values: an app has at most ${MAX_SECRETS_PER_APP} secrets (this would make ${after.size})`);
}

/** A name as an error may quote it: cut short, nothing but printable ASCII. */
function printable(name: string): string {
  const cut = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(cut).replace(/[^\x20-\x7e]/g, '?');
}

/**
 * The environment variables a machine gets from its app's secrets: each by its own
 * name, unless its process names the ones it takes (`secrets`, each as `env_var`
 * from secret `name`, or from the secret of that name) or takes none
 * (`ignore_app_secrets`), as Fly's process config says.
 */
export function secretsEnv(config: Pick<MachineConfig, 'processes'>, secrets: Readonly<Record<string, string>> = {}): Record<string, string> {
  const process = config.processes?.[0];
  if (process?.secrets && process.secrets.length > 0) {
    const env: Record<string, string> = {};
    for (const { env_var: envVar, name } of process.secrets) {
      const value = envVar ? secrets[name || envVar] : undefined;
      if (envVar && value !== undefined) env[envVar] = value;
    }
    return env;
  }
  if (process?.ignore_app_secrets) return {};
  return { ...secrets };
}

/**
 * The contents of `config.files[]` given by `secret_name`: the secret's value is the
 * file, base64-encoded, as on Fly. Refused, naming the file, if the app has no such
 * secret or its value is not base64: the machine must not boot without it.
 */
export function secretFileContent(field: string, name: string, secrets: Readonly<Record<string, string>> = {}): string {
  const value = secrets[name];
  if (value === undefined) throw invalid(`${field}.secret_name: the app has no secret ${JSON.stringify(name)}`);
  if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(value)) throw invalid(`${field}.secret_name: secret ${name} does not hold base64 (a file's secret is its contents, base64-encoded)`);
  return value;
}
