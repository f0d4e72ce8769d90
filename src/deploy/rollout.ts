/**
 * Changing an app's machines to a release, by Fly's strategies, remembering each
 * change so that a deploy that fails can undo them all (machines updated go back
 * to the config they had, machines made are destroyed): a failed deploy leaves the
 * app as it was, serving.
 *
 * - rolling: a group's machines in batches of `max_unavailable` (a fraction of
 *   them, or a count), each batch good before the next;
 * - immediate: every machine at once, then all waited for;
 * - canary: one new machine of each group first, good, then destroyed; then rolling;
 * - bluegreen: a new (green) machine beside each old (blue) one, kept out of the
 *   proxy's routing until every green one is good; then the green ones take
 *   traffic and the blue ones are destroyed.
 * A machine updated while it is stopped or suspended is left stopped: there is
 * nothing to wait for. A machine never takes traffic before it is good.
 */
import type { Strategy } from '../domain/app-config/fly-toml-schema.ts';
import { ApiError } from '../client/api-client.ts';
import type { DeployApi, MachineJson } from './api.ts';

const RUNNING = new Set(['started', 'starting', 'replacing', 'updating', 'restarting']);
import { untilGood } from './health.ts';
import type { DeployLeases } from './leases.ts';
import { type GroupPlan, type MachineUpdate, newMachineConfig, type NewMachine } from './plan.ts';

export interface RolloutOptions {
  api: DeployApi;
  leases: DeployLeases;
  say: (line: string) => void;
  waitTimeoutMs: number;
  /** `max_unavailable`: a fraction of a group's machines (below 1) or a count. */
  maxUnavailable: number;
  /** Aborted to stop the deploy (Ctrl-C): no new change begins, waits end, and the deploy is undone. */
  signal?: AbortSignal;
}

/** How many of `total` machines a rolling batch changes at once. */
export function batchSize(maxUnavailable: number, total: number): number {
  const size = maxUnavailable < 1 ? Math.ceil(maxUnavailable * total) : Math.floor(maxUnavailable);
  return Math.max(1, Math.min(total, size));
}

/** A machine the deploy touched: as it was, whether it ran, and whether its config changed (or may have). */
interface Touched {
  before: MachineJson;
  running: boolean;
  changed: boolean;
}

const SETTLED = new Set(['started', 'stopped', 'suspended', 'failed', 'created']);

/** The machine once its change has run its course (an update cannot be undone while it replaces the machine). */
async function untilSettled(api: DeployApi, id: string, deadline: number): Promise<MachineJson> {
  for (;;) {
    const machine = await api.getMachine(id);
    if (SETTLED.has(machine.state) || Date.now() > deadline) return machine;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs every piece of work to its end, then throws the first failure: nothing is still under way when undo starts. */
async function settled<T>(work: Array<Promise<T>>): Promise<T[]> {
  const outcomes = await Promise.allSettled(work);
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<T>).value);
}

export class Rollout {
  private readonly options: RolloutOptions;
  private readonly touched: Touched[] = [];
  private readonly created: string[] = [];
  /** Immediate changes every machine at once, taking none out of routing: what runs keeps serving. */
  private cordon = true;

  constructor(options: RolloutOptions) {
    this.options = options;
  }

  async deploy(strategy: Strategy, groups: GroupPlan[]): Promise<void> {
    if (strategy === 'bluegreen') return this.blueGreen(groups);
    if (strategy === 'canary') for (const group of groups) await this.canary(group);
    this.cordon = strategy !== 'immediate';
    for (const group of groups) {
      const size = strategy === 'immediate' ? group.updates.length : batchSize(this.options.maxUnavailable, group.updates.length);
      for (let at = 0; at < group.updates.length; at += size) {
        await settled(group.updates.slice(at, at + size).map((update) => this.update(update, group.group)));
      }
      await settled(group.creates.map((machine) => this.create(group, machine)));
    }
  }

  /**
   * Puts every machine changed back as it was (one whose instance did not change is
   * only taken back into routing), and destroys every machine made; says what it
   * could not undo.
   */
  async undo(): Promise<void> {
    const { api, leases, say } = this.options;
    for (const id of this.created.splice(0).reverse()) {
      say(`  Destroying machine ${id}, made by this deploy`);
      await api.destroyMachine(id).catch((error: Error) => say(`  ! machine ${id} was not destroyed: ${error.message}`));
    }
    for (const { before, running, changed } of this.touched.splice(0).reverse()) {
      const nonce = leases.nonce(before.id);
      try {
        const now = changed ? await untilSettled(api, before.id, Date.now() + this.options.waitTimeoutMs) : before;
        if (now.instance_id !== before.instance_id) {
          say(`  Putting machine ${before.id} back as it was`);
          const back = await api.updateMachine(before.id, { config: before.config, skip_launch: !running }, nonce);
          if (running) await untilGood(api, before.id, back.instance_id, Date.now() + this.options.waitTimeoutMs);
        }
      } catch (error) {
        say(`  ! machine ${before.id} was not put back: ${(error as Error).message}`);
      } finally {
        // It served before: it goes back into routing whatever became of it.
        await api.setCordoned(before.id, false, nonce).catch((error: Error) => say(`  ! machine ${before.id} is still out of routing: ${error.message}`));
      }
    }
  }

  private async update({ machine, config }: MachineUpdate, group: string): Promise<void> {
    const { api, leases, say } = this.options;
    this.options.signal?.throwIfAborted();
    leases.check();
    const nonce = leases.nonce(machine.id);
    const touched: Touched = { before: machine, running: false, changed: false };
    this.touched.push(touched);
    // Out of the proxy's routing first (requests go to the machines that stay up, and
    // none wakes this one), then its state as it is now, not as the plan read it.
    if (this.cordon) await api.setCordoned(machine.id, true, nonce);
    touched.before = await api.getMachine(machine.id);
    touched.running = RUNNING.has(touched.before.state);
    // A failed machine is started with the new config, as flyctl starts it; it is put back stopped.
    const launch = touched.running || touched.before.state === 'failed';
    say(`  Updating machine ${machine.id} [${group}]${launch ? '' : ` (${touched.before.state}: it stays so)`}`);
    let updated: MachineJson;
    try {
      updated = await api.updateMachine(machine.id, { config, skip_launch: !launch }, nonce);
    } catch (error) {
      // A refusal changed nothing; anything else may have.
      touched.changed = !(error instanceof ApiError && error.status >= 400 && error.status < 500);
      throw error;
    }
    touched.changed = true;
    if (launch) await untilGood(api, machine.id, updated.instance_id, Date.now() + this.options.waitTimeoutMs, this.options.signal);
    // One left stopped goes back into routing once its update has settled: while it is
    // `updating` the proxy could neither forward to it nor wake it.
    else await untilSettled(api, machine.id, Date.now() + this.options.waitTimeoutMs);
    if (this.cordon) await api.setCordoned(machine.id, false, nonce);
    if (launch) say(`  ✔ Machine ${machine.id} is good`);
  }

  /**
   * A new machine, kept out of routing until it is good; then it takes traffic, unless
   * `held` (bluegreen switches later). With `launch` false it is made stopped.
   */
  private async create(group: GroupPlan, machine: NewMachine, held = false, launch = true): Promise<MachineJson> {
    const { api, say } = this.options;
    this.options.signal?.throwIfAborted();
    const made = await api.createMachine({
      config: newMachineConfig(group, machine), ...(machine.region ? { region: machine.region } : {}), skip_service_registration: true,
      ...(launch ? {} : { skip_launch: true }),
    });
    this.created.push(made.id);
    say(`  Made machine ${made.id} [${group.group}]${made.region ? ` in ${made.region}` : ''}${launch ? '' : ' (stopped, as the one it replaces)'}`);
    if (launch) await untilGood(api, made.id, made.instance_id, Date.now() + this.options.waitTimeoutMs, this.options.signal);
    if (!held) await api.setCordoned(made.id, false);
    if (launch) say(`  ✔ Machine ${made.id} is good`);
    return made;
  }

  private async canary(group: GroupPlan): Promise<void> {
    if (group.updates.length === 0) return;
    const { api, say } = this.options;
    say(`  Canary of group ${group.group}:`);
    const canary = await this.create(group, { region: group.updates[0]?.machine.region }, true);
    await api.destroyMachine(canary.id);
    this.created.splice(this.created.indexOf(canary.id), 1);
    say(`  ✔ Canary ${canary.id} was good, and is destroyed`);
  }

  private async blueGreen(groups: GroupPlan[]): Promise<void> {
    const { api, leases, say } = this.options;
    const blue = groups.flatMap((group) => group.updates.map((update) => ({ group, update })));
    say(`  Making ${blue.length} green machine(s), kept out of routing until all are good`);
    // A green machine keeps its blue one's running or not (a scaled-to-zero app stays so).
    const green = await settled(blue.map(async ({ group, update }) => {
      const now = await api.getMachine(update.machine.id);
      return this.create(group, { region: update.machine.region }, true, RUNNING.has(now.state) || now.state === 'failed');
    }));
    green.push(...await settled(groups.flatMap((group) => group.creates.map((machine) => this.create(group, machine, true)))));
    for (const machine of green) await api.setCordoned(machine.id, false);
    say('  ✔ Green machines take traffic; destroying the blue ones');
    // Past this point the release is served: the blue machines are gone for good.
    this.created.splice(0);
    for (const { update } of blue) {
      await api.destroyMachine(update.machine.id, leases.nonce(update.machine.id));
      leases.forget(update.machine.id);
    }
  }
}
