/**
 * Hosts that stop being heard from. Every API replica, every heartbeat period,
 * asks the store to declare lost the hosts silent for longer than
 * `--host-lost-after` (one replica at a time does it, by the database's clock):
 * a lost host's epoch is raised with it, so whatever it still writes is fenced
 * until it registers again. The replica that declared a host then starts the
 * standbys of the machines that were there (Fly's `standbys`: nothing is stopped
 * when the host comes back).
 *
 * A replica judges only a silence it could have heard: it declares nothing until
 * it has reached the database at every look for `--host-lost-after`. While the
 * database is down (restarting, failing over) no host can write its heartbeat, and
 * without this the first replica back would declare every host lost at once.
 *
 * An operator writes a lost host off (`forget`): its machines and volumes become
 * destroyed, its queued work and the records of its snapshots go, without
 * calling it; it is refused at registration until let `rejoin`.
 */
import { HangarError, notFound } from '../domain/errors.ts';
import type { HostRecord, HostUsage } from '../domain/host.ts';
import { decideStart, decideWrittenOff } from '../domain/lifecycle/actions.ts';
import { unchanged } from '../domain/lifecycle/decision.ts';
import { ACTIONS } from '../domain/states.ts';
import { writeMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';

/** Declares lost hosts every `everyMs`; `onDeclared` hears of each batch. Answers the stop. */
export function watchForLostHosts(deps: ControlDeps, everyMs: number, onDeclared: (hosts: HostRecord[]) => void): () => void {
  let running = false;
  /** Since when (this process's clock) every look reached the database; undefined after one that did not. */
  let reachedSince: number | undefined;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const now = deps.clock.now();
      if (reachedSince === undefined || now - reachedSince < deps.settings.hostLostAfterMs) {
        await deps.store.listHostUsage();
        reachedSince ??= now;
        return;
      }
      const declared = await deps.store.declareLostHosts(deps.settings.hostLostAfterMs);
      for (const host of declared) {
        deps.log.warn({ hostId: host.id, epoch: host.epoch }, `host ${host.id} declared lost: not heard from in ${deps.settings.hostLostAfterMs / 1000} s`);
      }
      if (declared.length > 0) {
        onDeclared(declared);
        await startStandbys(deps);
      }
    } catch (error) {
      reachedSince = undefined;
      deps.log.warn({ err: error }, 'could not look for lost hosts; trying again');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Starts every standby whose watched machines are all on lost or forgotten hosts
 * (and that is not running already); answers the ids started.
 */
export async function startStandbys(deps: ControlDeps): Promise<string[]> {
  const live = await deps.store.listLiveMachines();
  const gone = new Set((await deps.store.listHostUsage()).filter(({ host }) => host.state !== 'active').map(({ host }) => host.id));
  const byId = new Map(live.map((machine) => [machine.id, machine]));
  const started: string[] = [];
  for (const standby of live) {
    const watched = standby.config.standbys ?? [];
    if (watched.length === 0 || !ACTIONS[standby.state].start || (standby.hostId !== undefined && gone.has(standby.hostId))) continue;
    const orphaned = watched.every((id) => {
      const machine = byId.get(id);
      return machine === undefined || (machine.hostId !== undefined && gone.has(machine.hostId));
    });
    if (!orphaned) continue;
    try {
      await writeMachine(deps, standby.appName, standby.id, {}, (current, ctx) => (ACTIONS[current.state].start ? decideStart(current, ctx) : unchanged(current)));
      deps.log.warn({ machineId: standby.id, standbyFor: watched }, `standby ${standby.id} started: the machines it stands by for are on lost hosts`);
      started.push(standby.id);
    } catch (error) {
      deps.log.error({ machineId: standby.id, err: error }, `standby ${standby.id} could not be started`);
    }
  }
  return started;
}

export interface Forgotten {
  host: HostUsage;
  machines: string[];
  volumes: string[];
}

/** Writes off lost host `id` (see above); 409 for a host that is not lost. Running it again finishes what a crash left. */
export async function forgetHost(deps: ControlDeps, id: string): Promise<Forgotten> {
  const usage = await deps.store.getHost(id);
  if (!usage) throw notFound(`host ${id} not found`);
  const host = await deps.store.setHostState(id, ['lost', 'forgotten'], 'forgotten');
  if (!host) {
    throw new HangarError('conflict', `host ${id} is ${usage.host.state === 'active' ? 'up' : usage.host.state}: only a lost host can be forgotten`,
      `a replica declares a host lost once it has not been heard from for --host-lost-after (${deps.settings.hostLostAfterMs / 1000} s)`);
  }
  const reason = `host ${id} was forgotten (written off by an operator): the machine is destroyed`;
  const machines: string[] = [];
  for (const machine of await deps.store.listLiveMachines(id)) {
    await writeMachine(deps, machine.appName, machine.id, {}, (current, ctx) => decideWrittenOff(current, reason, ctx));
    machines.push(machine.id);
  }
  const volumes: string[] = [];
  for (const volume of await deps.store.listVolumesOnHost(id)) {
    for (const snapshot of await deps.store.listSnapshots(volume.id)) await deps.store.deleteSnapshot(snapshot.id);
    await deps.store.putVolume({ ...volume, state: 'destroyed', attachedMachineId: null });
    volumes.push(volume.id);
  }
  const dropped = await deps.store.dropHostWork(id);
  deps.log.warn({ hostId: id, machines: machines.length, volumes: volumes.length, work: dropped }, `host ${id} forgotten`);
  return { host: await deps.store.getHost(id) ?? { ...usage, host }, machines, volumes };
}

/** Lets forgotten host `id` register again (as lost: it holds nothing); 409 for one not forgotten. */
export async function rejoinHost(deps: ControlDeps, id: string): Promise<HostUsage> {
  const usage = await deps.store.getHost(id);
  if (!usage) throw notFound(`host ${id} not found`);
  if (!await deps.store.setHostState(id, ['forgotten'], 'lost')) throw new HangarError('conflict', `host ${id} is not forgotten: it may register as it is`);
  deps.log.warn({ hostId: id }, `host ${id} may rejoin`);
  return await deps.store.getHost(id) ?? usage;
}
