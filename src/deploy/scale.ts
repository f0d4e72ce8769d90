/**
 * `hangar scale`, as `fly scale` does it, on the machines deploys made: `count`
 * makes machines like the group's newest (each with a volume of its own when the
 * group mounts one) or destroys the surplus (stopped ones first, then the newest);
 * `vm` and `memory` change every machine's size, one machine at a time, as a
 * rolling deploy changes them.
 */
import type { DeployApi, MachineJson, VolumeJson } from './api.ts';
import { untilGood } from './health.ts';
import { DeployLeases } from './leases.ts';
import { groupOf, isDeployed } from './plan.ts';
import { Rollout } from './rollout.ts';

const WAIT_MS = 5 * 60_000;
const newestFirst = (a: MachineJson, b: MachineJson) => (b.created_at ?? '').localeCompare(a.created_at ?? '') || (a.id < b.id ? 1 : -1);
const RESTING = ['stopped', 'suspended', 'failed', 'created'];

export interface CountRequest {
  count: number;
  region?: string;
  /** The process group; the default one ("app", or the only one) when absent. */
  group?: string;
}

/** The app's deployed machines by group: those of `group`, or of every group. */
async function byGroup(api: DeployApi, group: string | undefined): Promise<Map<string, MachineJson[]>> {
  const groups = new Map<string, MachineJson[]>();
  for (const machine of (await api.listMachines()).filter(isDeployed)) {
    if (group !== undefined && groupOf(machine) !== group) continue;
    groups.set(groupOf(machine), [...groups.get(groupOf(machine)) ?? [], machine]);
  }
  if (groups.size === 0) {
    throw new Error(group === undefined ? `app ${api.appName} has no deployed machines: \`hangar deploy\` it first` : `app ${api.appName} has no machines of process group ${group}`);
  }
  return groups;
}

export async function scaleCount(api: DeployApi, request: CountRequest, say: (line: string) => void): Promise<void> {
  const groups = await byGroup(api, request.group);
  // As flyctl: one group at a time, the default one ("app", or the only one) unless named.
  const group = request.group ?? (groups.has('app') ? 'app' : groups.size === 1 ? [...groups.keys()][0] as string : undefined);
  if (group === undefined) throw new Error(`app ${api.appName} has process groups ${[...groups.keys()].sort().join(', ')}: name one with --process-group`);
  const all = groups.get(group);
  if (!all) throw new Error(`app ${api.appName} has no machines of process group ${group}`);
  const mine = all.filter((machine) => request.region === undefined || machine.region === request.region);
  const where = request.region ? ` in ${request.region}` : '';
  if (mine.length === request.count) {
    say(`Group ${group} has ${mine.length} machine(s)${where} already`);
    return;
  }
  if (mine.length > request.count) {
    const order = [...mine].sort((a, b) => Number(RESTING.includes(b.state)) - Number(RESTING.includes(a.state)) || newestFirst(a, b));
    for (const machine of order.slice(0, mine.length - request.count)) {
      say(`Destroying machine ${machine.id} [${group}]${where}`);
      await api.destroyMachine(machine.id);
    }
    return;
  }
  const template = [...all].sort(newestFirst)[0] as MachineJson;
  const free = (await api.listVolumes()).filter((volume) => volume.state === 'created' && !volume.attached_machine_id);
  for (let n = mine.length; n < request.count; n++) {
    const region = request.region ?? template.region;
    const config = { ...template.config, mounts: await volumesFor(api, template, region, free, say) };
    if (!config.mounts.length) delete (config as Record<string, unknown>).mounts;
    const made = await api.createMachine({ config, region });
    say(`Made machine ${made.id} [${group}] in ${made.region}`);
    await untilGood(api, made.id, made.instance_id, Date.now() + WAIT_MS);
  }
}

/** The template's mounts for a new machine: a free volume of the same name, else a new one of the same size. */
async function volumesFor(api: DeployApi, template: MachineJson, region: string, free: VolumeJson[], say: (line: string) => void): Promise<Array<{ volume: string; path: string; name?: string }>> {
  const [mount] = template.config.mounts ?? [];
  if (!mount?.volume) return [];
  const volumes = await api.listVolumes();
  const model = volumes.find((volume) => volume.id === mount.volume);
  const name = model?.name ?? mount.name ?? 'data';
  const at = free.findIndex((volume) => volume.name === name && volume.region === region);
  const volume = at >= 0 ? free.splice(at, 1)[0] as VolumeJson : await api.createVolume(name, region, model?.size_gb ?? 1);
  say(`${at >= 0 ? 'Using' : 'Made'} volume ${volume.id} (${name})`);
  return [{ volume: volume.id, path: mount.path, ...(mount.name ? { name: mount.name } : {}) }];
}

/** Every machine of `group` (or of every group) resized, one at a time. */
export async function scaleGuest(api: DeployApi, guest: Record<string, unknown>, group: string | undefined, say: (line: string) => void): Promise<void> {
  const groups = await byGroup(api, group);
  const leases = await DeployLeases.take(api, [...groups.values()].flat().map((machine) => machine.id), 'hangar scale');
  try {
    const rollout = new Rollout({ api, leases, say, waitTimeoutMs: WAIT_MS, maxUnavailable: 1 });
    const plans = [...groups].map(([name, machines]) => ({
      group: name, config: {}, creates: [],
      updates: machines.map((machine) => ({ machine, config: { ...machine.config, guest: { ...machine.config.guest as object, ...guest } } })),
    }));
    try {
      await rollout.deploy('rolling', plans);
    } catch (error) {
      say(`✖ ${(error as Error).message}`);
      say('Putting the machines changed back as they were:');
      await rollout.undo();
      throw error;
    }
  } finally {
    await leases.giveBack();
  }
}
