/**
 * A CLI command is a spec (where it lives, its arguments and options) plus a
 * handler that returns an exit code. Handlers never exit the process.
 */
import type { ApiClient } from '../client/api-client.ts';
import type { Io } from './output.ts';

export interface CliContext {
  io: Io;
  client: ApiClient;
}

export type Options = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface OptionSpec {
  flags: string;
  description: string;
  default?: string | boolean | string[];
  /** Repeatable: values collect into an array. */
  repeat?: boolean;
}

export interface CommandSpec {
  /** e.g. ['machine', 'start'] or ['machine', 'leases', 'view']. */
  path: string[];
  description: string;
  /** Commander argument syntax: '<id>', '[command...]'. */
  args?: string[];
  options?: OptionSpec[];
  /** Needs `-a/--app`. */
  needsApp?: boolean;
  handler(ctx: CliContext, args: string[], options: Options): Promise<number>;
}

/** Shorthand for a machine path. */
export const machinePath = (app: string, id = '', suffix = '') =>
  `/v1/apps/${encodeURIComponent(app)}/machines${id ? `/${encodeURIComponent(id)}` : ''}${suffix}`;

/** Parses KEY=VALUE pairs (for --env and --metadata). */
export function parsePairs(pairs: string[] | undefined, flag: string): Record<string, string> {
  // A Map, then own keys: an assignment of "__proto__" would vanish instead of reaching the server (which refuses it).
  const out = new Map<string, string>();
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`${flag} takes KEY=VALUE, got "${pair}"`);
    out.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return Object.fromEntries(out);
}
