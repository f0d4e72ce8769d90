/**
 * A deploy, as `fly deploy` does one: the app made if it is missing; every
 * machine's lease taken; a release begun; the release command run; the machines
 * changed by the strategy; machines of groups the fly.toml dropped destroyed; the
 * release ended. A deploy that fails undoes what it changed and ends its release
 * `failed`, saying why; one that finds an earlier release still `running` (its
 * deploy died: it held no lease any more) ends that one `interrupted`.
 */
import type { FlyToml, Strategy } from '../domain/app-config/fly-toml-schema.ts';
import { commandWords, defaultGroup, memoryMb } from '../domain/app-config/machine-configs.ts';
import { parseGoDuration } from '../domain/duration.ts';
import type { DeployApi, VolumeJson } from './api.ts';
import { checkCount } from './health.ts';
import { DeployLeases } from './leases.ts';
import { type DeployPlan, isDeployed, planDeploy } from './plan.ts';
import { runReleaseCommand } from './release-command.ts';
import type { ReleaseRecordJson } from './release-json.ts';
import { Rollout } from './rollout.ts';

export interface DeployRequest {
  config: FlyToml;
  /** Content of the files the fly.toml names by local_path, base64. */
  files: Record<string, string>;
  image: string;
  /** Overrides `[deploy] strategy`. */
  strategy?: Strategy;
  org: string;
  /** Said in the release: a rollback names the release it goes back to. */
  description?: string;
  /** Aborted to stop the deploy (Ctrl-C): it undoes what it changed and ends its release failed. */
  signal?: AbortSignal;
}

const DEFAULT_WAIT = '5m';
const DEFAULT_MAX_UNAVAILABLE = 0.33;
/** How often a deploy says it is still at work (the server takes it as dead after 60 s of silence). */
const HEARTBEAT_MS = 10_000;

export async function deploy(api: DeployApi, request: DeployRequest, say: (line: string) => void): Promise<ReleaseRecordJson> {
  const { config } = request;
  const strategy = request.strategy ?? config.deploy?.strategy ?? 'rolling';
  if ((strategy === 'canary' || strategy === 'bluegreen') && config.mounts?.length) {
    throw new Error(`${strategy} deployments are not supported with mounted volumes (a volume has one machine); use rolling or immediate`);
  }
  if (await api.ensureApp(request.org)) say(`Made app ${api.appName}`);
  const machines = await api.listMachines();
  const leased = machines.filter(isDeployed).map((machine) => machine.id);
  const leases = await DeployLeases.take(api, leased, 'hangar deploy');
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    // With no machine to lease (a first deploy), the running release is what keeps a second deploy out: it is kept fresh.
    const release = await api.beginRelease({ image: request.image, strategy, config, files: request.files, description: request.description ?? '' }, leased.length > 0);
    heartbeat = setInterval(() => void api.touchRelease(release.version).catch(() => undefined), HEARTBEAT_MS);
    heartbeat.unref();
    say(`==> Release v${release.version} of ${api.appName}: ${request.image} (${strategy})`);
    await interruptEarlier(api, release.version, say);
    try {
      await deployRelease(api, request, release, strategy, machines, leases, say);
    } catch (error) {
      await api.endRelease(release.version, 'failed', (error as Error).message).catch(() => undefined);
      throw error;
    }
    await api.endRelease(release.version, 'complete');
    say(`✔ Release v${release.version} of ${api.appName} deployed`);
    return { ...release, status: 'complete' };
  } finally {
    clearInterval(heartbeat);
    await leases.giveBack();
  }
}

async function deployRelease(api: DeployApi, request: DeployRequest, release: ReleaseRecordJson, strategy: Strategy,
  machines: Awaited<ReturnType<DeployApi['listMachines']>>, leases: DeployLeases, say: (line: string) => void): Promise<void> {
  const { config } = request;
  const region = await regionFor(api, config, say);
  const plan = planDeploy(config, request.image, release, new Map(Object.entries(request.files)), machines, region);
  for (const machine of plan.foreign) say(`  (machine ${machine.id} was not made by a deploy: left as it is)`);
  if (strategy === 'bluegreen') {
    const blind = plan.groups.find((group) => group.updates.length > 0 && checkCount(group.config) === 0);
    if (blind) throw new Error(`bluegreen needs health checks to know the green machines are good: group ${blind.group} has none (add [[http_service.checks]] or [checks])`);
  }
  await giveVolumes(api, config, plan, say);
  const waitTimeoutMs = parseGoDuration(config.deploy?.wait_timeout ?? DEFAULT_WAIT, 'deploy.wait_timeout');
  if (config.deploy?.release_command) {
    const group = plan.groups.find((each) => each.group === defaultGroup(config)) ?? plan.groups[0];
    const timeout = parseGoDuration(config.deploy.release_command_timeout ?? DEFAULT_WAIT, 'deploy.release_command_timeout');
    if (group) await runReleaseCommand(api, group.config, commandWords(config.deploy.release_command, 'deploy.release_command'), region, timeout, say);
  }
  const rollout = new Rollout({ api, leases, say, waitTimeoutMs, maxUnavailable: config.deploy?.max_unavailable ?? DEFAULT_MAX_UNAVAILABLE, signal: request.signal });
  try {
    await rollout.deploy(strategy, plan.groups);
  } catch (error) {
    say(`✖ ${(error as Error).message}`);
    say('Undoing this deploy\'s changes, so that the app stays as it was:');
    await rollout.undo();
    throw error;
  }
  for (const machine of plan.retired) {
    say(`  Destroying machine ${machine.id}: its group is no longer in the fly.toml`);
    await api.destroyMachine(machine.id, leases.nonce(machine.id));
    leases.forget(machine.id);
  }
}

/** The fly.toml's primary_region when this hangar serves it; otherwise machines go where hangar places them. */
async function regionFor(api: DeployApi, config: FlyToml, say: (line: string) => void): Promise<string | undefined> {
  if (!config.primary_region) return undefined;
  const { regions, nearest } = await api.regions();
  if (regions.some((region) => region.code === config.primary_region)) return config.primary_region;
  say(`  (primary_region ${config.primary_region} is not a region of this hangar: new machines go to ${nearest})`);
  return undefined;
}

/** A volume for each new machine of a group with [[mounts]]: one of that name not attached, else a new one. */
async function giveVolumes(api: DeployApi, config: FlyToml, plan: DeployPlan, say: (line: string) => void): Promise<void> {
  const wanted = plan.groups.filter((group) => group.creates.length > 0 && group.config.mounts?.length);
  if (wanted.length === 0) return;
  const free = (await api.listVolumes()).filter((volume) => volume.state === 'created' && !volume.attached_machine_id);
  const taken = new Set<string>();
  for (const group of wanted) {
    const mount = (config.mounts ?? []).find((each) => each.source === group.config.mounts?.[0]?.name);
    if (!mount) continue;
    for (const machine of group.creates) {
      const found: VolumeJson | undefined = free.find((volume) => volume.name === mount.source && !taken.has(volume.id) && (!machine.region || volume.region === machine.region));
      const volume = found ?? await api.createVolume(mount.source, machine.region, mount.initial_size ? Math.max(1, Math.ceil(memoryMb(mount.initial_size, 'mounts.initial_size') / 1024)) : 1);
      taken.add(volume.id);
      machine.volume = volume.id;
      machine.region ??= volume.region;
      say(`  ${found ? 'Using' : 'Made'} volume ${volume.id} (${mount.source}) for a new machine of group ${group.group}`);
    }
  }
}

/** Ends earlier releases still `running`: their deploys died (the leases just taken were free). */
async function interruptEarlier(api: DeployApi, version: number, say: (line: string) => void): Promise<void> {
  const { releases } = await api.listReleases(50);
  for (const earlier of releases.filter((each) => each.status === 'running' && each.version < version)) {
    await api.endRelease(earlier.version, 'interrupted', 'its deploy stopped before the release ended').catch(() => undefined);
    say(`  (release v${earlier.version} was left running by a deploy that stopped: it is now interrupted)`);
  }
}
