/** `hangar config validate|machines`: a fly.toml read as flyctl reads it, into the machine config of each process group. */
import type { CommandSpec } from '../../command.ts';
import { json } from '../../output.ts';

/** Loaded when a config command runs: the TOML parser and the schema stay out of every other command's start. */
const flyToml = async () => ({ ...await import('./fly-toml-file.ts'), ...await import('../../../domain/app-config/machine-configs.ts') });

const configOption = { flags: '-c, --config <file>', description: 'the app\'s configuration', default: 'fly.toml' };

export const configValidate: CommandSpec = {
  path: ['config', 'validate'],
  description: 'check a fly.toml: each error and each key hangar does not know, with its line',
  options: [configOption],
  async handler({ io }, _args, options) {
    const { readFlyToml, processGroups } = await flyToml();
    const { config, warnings, path } = readFlyToml(options.config);
    for (const warning of warnings) io.err(`Warning: ${warning}`);
    const groups = processGroups(config);
    io.out(`${path} is valid: app ${config.app ?? '(none: give -a to deploy)'}, process group${groups.length > 1 ? 's' : ''} ${groups.join(', ')}`);
    return 0;
  },
};

export const configMachines: CommandSpec = {
  path: ['config', 'machines'],
  description: 'print the machine config each process group\'s machines get from a fly.toml (as JSON)',
  options: [configOption, { flags: '-i, --image <ref>', description: 'the image (default: [build] image)' }],
  async handler({ io }, _args, options) {
    const { readFlyToml, processGroups, machineConfigFor } = await flyToml();
    const { config, warnings, localFiles } = readFlyToml(options.config);
    for (const warning of warnings) io.err(`Warning: ${warning}`);
    const image = options.image ?? config.build?.image;
    if (!image) throw new Error('no image: give --image, or [build] image in the fly.toml');
    const release = { id: '(release)', version: 0 };
    io.out(json(Object.fromEntries(processGroups(config).map((group) => [group, machineConfigFor(config, group, image, release, localFiles)]))));
    return 0;
  },
};
