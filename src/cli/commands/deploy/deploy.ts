/**
 * `hangar deploy`: a fly.toml deployed as `fly deploy` deploys it (src/deploy/), or
 * with `--rollback [VERSION]` an earlier release's image and config, the same way.
 */
import type { CliContext, CommandSpec, Options } from '../../command.ts';
import { pullWithProgress } from '../image/pull.ts';

/** Loaded when a deploy runs: the TOML parser, the schema and the deploy stay out of every other command's start. */
const modules = async () => ({
  ...await import('../config/fly-toml-file.ts'),
  ...await import('../../../deploy/deploy.ts'),
  ...await import('../../../deploy/api.ts'),
  ...await import('../../../domain/app-config/fly-toml-schema.ts'),
});

export const deployCommand: CommandSpec = {
  path: ['deploy'],
  description: 'deploy an app from its fly.toml (or roll back to an earlier release), as `fly deploy` does',
  options: [
    { flags: '-c, --config <file>', description: 'the app\'s configuration', default: 'fly.toml' },
    { flags: '-a, --app <name>', description: 'the app (default: app in the fly.toml)' },
    { flags: '-i, --image <ref>', description: 'the image to deploy (default: [build] image)' },
    { flags: '--strategy <name>', description: 'rolling, immediate, canary or bluegreen (default: [deploy] strategy, else rolling)' },
    { flags: '-o, --org <slug>', description: 'the organization a new app is made in', default: 'personal' },
    { flags: '--rollback [version]', description: 'deploy an earlier release again (default: the one before the newest complete)' },
  ],
  handler: (context, _args, options) => (options.rollback !== undefined ? rollback(context, options) : deployFile(context, options)),
};

async function deployFile({ client, io }: CliContext, options: Options): Promise<number> {
  const { readFlyToml, deploy, DeployApi } = await modules();
  const { config, warnings, localFiles } = readFlyToml(options.config);
  for (const warning of warnings) io.err(`Warning: ${warning}`);
  const appName = options.app ?? config.app;
  if (!appName) throw new Error('no app: give -a, or app in the fly.toml');
  const image = options.image ?? config.build?.image;
  if (!image) throw new Error('no image: give --image, or [build] image in the fly.toml');
  // Pulled first, with progress: an image that cannot be had stops the deploy before anything changes.
  await pullWithProgress(client, io, image);
  await interruptible((signal) => deploy(new DeployApi(client, appName), {
    config: { ...config, app: appName }, files: Object.fromEntries(localFiles), image, strategy: strategyOption(options.strategy), org: options.org, signal,
  }, (line) => io.out(line)), io);
  return 0;
}

async function rollback({ client, io }: CliContext, options: Options): Promise<number> {
  const { deploy, DeployApi } = await modules();
  const appName = options.app ?? (await import('../config/fly-toml-file.ts')).readFlyToml(options.config).config.app;
  if (!appName) throw new Error('no app: give -a');
  const api = new DeployApi(client, appName);
  let version = options.rollback === true ? undefined : Number(options.rollback);
  if (version !== undefined && !(Number.isInteger(version) && version > 0)) throw new Error(`--rollback takes a release's version (a number such as 3), not "${options.rollback}"`);
  if (version === undefined) {
    const [, before] = (await api.listReleases(100)).releases.filter((release) => release.status === 'complete');
    if (!before) throw new Error(`app ${appName} has no complete release before its newest one to roll back to`);
    version = before.version;
  }
  const target = await api.getRelease(version);
  io.out(`Rolling back ${appName} to release v${target.version} (${target.image})`);
  await pullWithProgress(client, io, target.image);
  await interruptible((signal) => deploy(api, {
    config: target.config, files: target.files, image: target.image, strategy: strategyOption(options.strategy) ?? target.strategy,
    org: options.org, description: `rollback to v${target.version}`, signal,
  }, (line) => io.out(line)), io);
  return 0;
}

/**
 * Runs a deploy that a first Ctrl-C stops cleanly (no new change begins, what was
 * changed is undone, the release ends failed); a second one ends the CLI at once.
 */
async function interruptible(run: (signal: AbortSignal) => Promise<unknown>, io: CliContext['io']): Promise<void> {
  const stop = new AbortController();
  const onInterrupt = () => {
    io.err('Interrupted: undoing this deploy\'s changes (Ctrl-C again to leave at once)');
    stop.abort(new Error('the deploy was interrupted'));
    process.removeListener('SIGINT', onInterrupt);
  };
  process.on('SIGINT', onInterrupt);
  try {
    await run(stop.signal);
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

function strategyOption(value: string | undefined) {
  if (value === undefined) return undefined;
  if (!['rolling', 'immediate', 'canary', 'bluegreen'].includes(value)) throw new Error(`--strategy is rolling, immediate, canary or bluegreen, not "${value}"`);
  return value as 'rolling' | 'immediate' | 'canary' | 'bluegreen';
}
