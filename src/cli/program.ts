/** Builds the `hangar` command tree from the command specs and runs it. */
import { Command, CommanderError, Option } from 'commander';
import { readStoredToken } from '../system/data-dir.ts';
import { HANGAR_VERSION } from '../config.ts';
import { ApiClient, ApiError } from '../client/api-client.ts';
import type { CliContext, CommandSpec } from './command.ts';
import { appsCreate } from './commands/apps/create.ts';
import { appsDestroy } from './commands/apps/destroy.ts';
import { appsList } from './commands/apps/list.ts';
import { appsPorts } from './commands/apps/ports.ts';
import { appLogs } from './commands/apps/logs.ts';
import { scaleCount, scaleMemory, scaleVm } from './commands/apps/scale.ts';
import { appStatus } from './commands/apps/status.ts';
import { hostsCordon, hostsDrain, hostsForget, hostsList, hostsRejoin, hostsUncordon } from './commands/hosts/hosts.ts';
import { clusterCa, clusterHostRole, clusterIssue } from './commands/cluster/cluster.ts';
import { imagePull } from './commands/image/pull.ts';
import { machineActions } from './commands/machine/actions.ts';
import { machineClone } from './commands/machine/clone.ts';
import { machineFork } from './commands/machine/fork.ts';
import { machineMove } from './commands/machine/move.ts';
import { machineDestroy } from './commands/machine/destroy.ts';
import { machineExec } from './commands/machine/exec.ts';
import { machineLeasesClear, machineLeasesView } from './commands/machine/leases.ts';
import { machineList } from './commands/machine/list.ts';
import { machineLogs } from './commands/machine/logs.ts';
import { machineMetadata } from './commands/machine/metadata.ts';
import { machineCreate, machineRun } from './commands/machine/run.ts';
import { machineStatus } from './commands/machine/status.ts';
import { machineUpdate } from './commands/machine/update.ts';
import { machineWait } from './commands/machine/wait.ts';
import { configMachines, configValidate } from './commands/config/validate.ts';
import { deployCommand } from './commands/deploy/deploy.ts';
import { e2bCommands } from './commands/e2b/e2b.ts';
import { flyEnv } from './commands/fly-env.ts';
import { releasesList } from './commands/deploy/releases.ts';
import { secretsDeploy, secretsRekey, secretsSet, secretsUnset } from './commands/secrets/change.ts';
import { secretsList } from './commands/secrets/list.ts';
import { defaultDataDir, serve } from './commands/serve.ts';
import type { Io } from './output.ts';

export const COMMANDS: CommandSpec[] = [
  serve,
  appsCreate, appsList, appsPorts, appsDestroy,
  hostsList, hostsCordon, hostsUncordon, hostsDrain, hostsForget, hostsRejoin,
  clusterCa, clusterIssue, clusterHostRole,
  imagePull,
  machineRun, machineCreate, machineList, machineStatus, ...machineActions, machineUpdate, machineClone, machineFork, machineMove,
  machineDestroy, machineWait, machineExec, machineLogs, machineLeasesView, machineLeasesClear, ...machineMetadata,
  secretsList, secretsSet, secretsUnset, secretsDeploy, secretsRekey,
  configValidate, configMachines,
  deployCommand, releasesList, appStatus, appLogs, scaleCount, scaleVm, scaleMemory,
  flyEnv,
  ...e2bCommands,
];

const ALIASES: Record<string, string[]> = { machine: ['machines', 'm'], apps: ['app'], list: ['ls'], destroy: ['remove', 'rm'] };
const GROUPS: Record<string, string> = {
  apps: 'manage apps',
  hosts: 'list, cordon and write off the hosts machines are placed on',
  cluster: 'give a cluster\'s replicas and hosts their identities',
  machine: 'manage machines',
  leases: 'view and clear machine leases',
  metadata: 'read and change machine metadata',
  image: 'fetch images onto the host',
  secrets: 'set and list an app\'s secrets, which its machines get as environment variables',
  config: 'read a fly.toml into machine configs, as flyctl does',
  scale: 'change how many machines an app has, and their size',
  e2b: 'the E2B front: API keys and templates for the e2b SDK',
  keys: 'mint, list and revoke E2B API keys',
  templates: 'make images E2B templates',
};

function clientFor(io: Io): ApiClient {
  const token = io.env.HANGAR_API_TOKEN || readStoredToken(defaultDataDir(io.env));
  return new ApiClient({ baseUrl: io.env.HANGAR_API_URL || 'http://127.0.0.1:4280', token });
}

/** Runs the CLI; returns the exit code. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  let exitCode = 0;
  const program = new Command('hangar')
    .description('self-hosted Fly Machines: microVMs behind a Fly-compatible Machines API')
    .version(HANGAR_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  const ctx: CliContext = { io, client: clientFor(io) };

  for (const spec of COMMANDS) {
    const command = ensurePath(program, spec.path).description(spec.description);
    for (const arg of spec.args ?? []) command.argument(arg);
    if (spec.needsApp) command.requiredOption('-a, --app <name>', 'app name');
    for (const option of spec.options ?? []) {
      const built = new Option(option.flags, option.description);
      if (option.repeat) built.argParser((value: string, previous: string[] = []) => [...previous, value]);
      if (option.default !== undefined) built.default(option.default);
      command.addOption(built);
    }
    command.option('--json', 'print JSON');
    command.action(async (...received: unknown[]) => {
      const options = received.at(-2) as Record<string, unknown>;
      const args = received.slice(0, -2).flatMap((value) => (Array.isArray(value) ? value : value === undefined ? [] : [value])) as string[];
      exitCode = await spec.handler(ctx, args, options);
    });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof ApiError) {
      io.err(`Error: ${error.message}`);
      if (error.hint) io.err(`Hint: ${error.hint}`);
      return 1;
    }
    io.err(`Error: ${(error as Error).message}`);
    return 1;
  }
}

/** Finds or creates the nested command for a path such as ['machine', 'leases', 'view']. */
function ensurePath(program: Command, path: string[]): Command {
  let parent = program;
  for (const name of path) {
    let child = parent.commands.find((c) => c.name() === name);
    if (!child) {
      child = parent.command(name);
      if (GROUPS[name]) child.description(GROUPS[name]);
      for (const alias of ALIASES[name] ?? []) child.alias(alias);
      child.exitOverride();
      child.configureOutput({ writeOut: (s) => program.configureOutput().writeOut?.(s), writeErr: (s) => program.configureOutput().writeErr?.(s) });
    }
    parent = child;
  }
  return parent;
}
