/** `hangar secrets set|unset|deploy`, as flyctl's: a change, then (unless staged) the machines restarted in turn. */
import { type CliContext, type CommandSpec, type Options, parsePairs } from '../../command.ts';
import { rollSecrets } from './roll.ts';

const stage = { flags: '--stage', description: 'change the secrets only: machines take them at their next boot, or at `hangar secrets deploy`' };
const secretsPath = (app: string) => `/v1/apps/${encodeURIComponent(app)}/secrets`;

/** One change of the app's secrets, then (unless staged) its machines restarted in turn. */
async function change(context: CliContext, options: Options, values: Record<string, string | null>): Promise<number> {
  const { version } = await context.client.post<{ version: number }>(secretsPath(options.app), { values });
  context.io.out(`Secrets of ${options.app} are at version ${version}`);
  return options.stage ? 0 : rollSecrets(context, options.app);
}

export const secretsSet: CommandSpec = {
  path: ['secrets', 'set'],
  description: 'set secrets (NAME=VALUE ...) and restart the app\'s machines in turn',
  args: ['<pairs...>'],
  needsApp: true,
  options: [stage],
  handler(context, pairs, options) {
    // Not parsePairs' own error: it would quote the pair, value and all.
    if (pairs.some((pair) => pair.indexOf('=') <= 0)) throw new Error('secrets set takes NAME=VALUE pairs; one has no NAME=');
    return change(context, options, parsePairs(pairs, 'secrets set'));
  },
};

export const secretsUnset: CommandSpec = {
  path: ['secrets', 'unset'],
  description: 'unset secrets (NAME ...) and restart the app\'s machines in turn',
  args: ['<names...>'],
  needsApp: true,
  options: [stage],
  handler: (context, names, options) => change(context, options, Object.fromEntries(names.map((name) => [name, null]))),
};

export const secretsDeploy: CommandSpec = {
  path: ['secrets', 'deploy'],
  description: 'restart the app\'s started machines in turn, so that they take its secrets (after --stage)',
  needsApp: true,
  handler: (context, _args, options) => rollSecrets(context, options.app),
};

export const secretsRekey: CommandSpec = {
  path: ['secrets', 'rekey'],
  description: 'seal every app\'s secrets with the first key of the server\'s keyring (a key rotation)',
  async handler({ client, io }) {
    const { resealed, apps } = await client.post<{ resealed: number; apps: number }>('/hangar/v1/secrets/rekey', {});
    io.out(`${resealed} secret(s) of ${apps} app(s) sealed again with the current key`);
    return 0;
  },
};
