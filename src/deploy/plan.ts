/**
 * What a deploy changes, decided before it changes anything: for each process group
 * of the fly.toml, its machine config for this release, the machines it has (each
 * with the config it gets, keeping its volume, its size when the fly.toml names
 * none, and metadata the deploy does not own) and how many new ones it needs; and
 * the machines of groups the fly.toml no longer has. Only machines a deploy made
 * (fly_platform_version v2, as fly-go's ListFlyAppsMachines takes) are the deploy's;
 * others are left alone.
 */
import type { FlyToml } from '../domain/app-config/fly-toml-schema.ts';
import { type LocalFiles, machineConfigFor, processGroups, type Release } from '../domain/app-config/machine-configs.ts';
import type { MachineConfigJson, MachineJson } from './api.ts';

export const RELEASE_COMMAND_GROUP = 'fly_app_release_command';
const GONE = new Set(['destroying', 'destroyed']);

export interface MachineUpdate {
  machine: MachineJson;
  config: MachineConfigJson;
}

/** A machine to make: in `region` (none: where the cluster places it), with `volume` for the group's mount. */
export interface NewMachine {
  region?: string;
  volume?: string;
}

export interface GroupPlan {
  group: string;
  /** The config a new machine of the group gets (its mounts name a volume, not yet chosen). */
  config: MachineConfigJson;
  updates: MachineUpdate[];
  creates: NewMachine[];
}

export interface DeployPlan {
  groups: GroupPlan[];
  /** Machines of process groups the fly.toml no longer has: destroyed once the rest is deployed. */
  retired: MachineJson[];
  /** Machines no deploy made (hangar machine run, the API): left alone. */
  foreign: MachineJson[];
}

export function groupOf(machine: MachineJson): string {
  return machine.config.metadata?.fly_process_group || 'app';
}

/** A machine a deploy made (not a release command's), that is not on its way out. */
export function isDeployed(machine: MachineJson): boolean {
  return machine.config.metadata?.fly_platform_version === 'v2' && groupOf(machine) !== RELEASE_COMMAND_GROUP && !GONE.has(machine.state);
}

export function planDeploy(config: FlyToml, image: string, release: Release, localFiles: LocalFiles, machines: MachineJson[], region?: string): DeployPlan {
  const groups = processGroups(config);
  const deployed = machines.filter(isDeployed);
  const plans = groups.map((group): GroupPlan => {
    const groupConfig = machineConfigFor(config, group, image, release, localFiles) as MachineConfigJson;
    const mine = deployed.filter((machine) => groupOf(machine) === group).sort((a, b) => (a.id < b.id ? -1 : 1));
    const updates = mine.map((machine) => ({ machine, config: updatedConfig(groupConfig, machine, group) }));
    // As flyctl's first deploy of a group: one machine, and a second for a group that
    // serves traffic, unless it mounts a volume (each machine would have data of its own).
    const serves = Array.isArray(groupConfig.services) && groupConfig.services.length > 0;
    const fresh = mine.length === 0 ? (serves && !groupConfig.mounts?.length ? 2 : 1) : 0;
    return { group, config: groupConfig, updates, creates: Array.from({ length: fresh }, () => (region ? { region } : {})) };
  });
  return {
    groups: plans,
    retired: deployed.filter((machine) => !groups.includes(groupOf(machine))),
    foreign: machines.filter((machine) => !isDeployed(machine) && groupOf(machine) !== RELEASE_COMMAND_GROUP && !GONE.has(machine.state)),
  };
}

/** The group's config as one machine takes it: its volume kept, its size kept when the fly.toml names none, metadata merged. */
function updatedConfig(groupConfig: MachineConfigJson, machine: MachineJson, group: string): MachineConfigJson {
  const config: MachineConfigJson = { ...groupConfig, metadata: { ...machine.config.metadata, ...groupConfig.metadata } };
  if (config.guest === undefined && machine.config.guest !== undefined) config.guest = machine.config.guest;
  const [mount] = groupConfig.mounts ?? [];
  if (mount) {
    const volume = machine.config.mounts?.[0]?.volume;
    if (!volume) throw new Error(`machine ${machine.id} of group ${group} has no volume, and [[mounts]] gives the group one: destroy the machine, or scale the group to make new ones`);
    config.mounts = [{ ...mount, volume }];
  }
  return config;
}

/** The config of a new machine of the group: the group's, with its volume. */
export function newMachineConfig(group: GroupPlan, machine: NewMachine): MachineConfigJson {
  const [mount] = group.config.mounts ?? [];
  if (!mount) return group.config;
  if (!machine.volume) throw new Error(`a new machine of group ${group.group} needs a volume for ${mount.path}`);
  return { ...group.config, mounts: [{ ...mount, volume: machine.volume }] };
}
