/**
 * `GET …/wait`: resolves when the machine (or one version of it) reaches one of
 * the requested states. Subscribes before it looks, so no change slips between.
 */
import { HangarError, notFound } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { MachineState } from '../domain/states.ts';
import { parseWaitTargets, parseWaitTimeout, satisfies, type WaitTarget } from '../domain/wait.ts';
import { loadMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';
import type { StateChange } from './wait-hub.ts';
import { assertHostReachable } from './host-reach.ts';

export interface WaitQuery {
  state?: string | string[];
  timeout?: string;
  version?: string;
  instance_id?: string;
  from_event_id?: string;
}

export interface WaitResult {
  ok: true;
  state: MachineState;
  version: string;
  event_id: string;
}

/** The state of `version` given the machine's current state: older versions read `replaced`. */
export function versionState(change: { state: MachineState; version: string }, version: string | undefined): MachineState {
  return version && version !== change.version ? 'replaced' : change.state;
}

/** A machine's state now, as the first look of `untilChange` (no event id). */
export async function stateNow(deps: ControlDeps, machineId: string): Promise<StateChange | null> {
  const machine = await deps.store.getMachineById(machineId);
  return machine && { state: machine.state, version: machine.version, eventId: '' };
}

/**
 * Like `stateNow`, but a machine whose record is gone reads `destroyed`: records
 * are deleted (with their app) only once their machines are destroyed.
 */
export async function stateOrGone(deps: ControlDeps, machineId: string): Promise<StateChange> {
  return (await stateNow(deps, machineId)) ?? { state: 'destroyed', version: '', eventId: '' };
}

/** Subscribes, then checks `current()`; resolves with the first change accepted by `accept`. */
export async function untilChange(
  deps: ControlDeps,
  machineId: string,
  accept: (change: StateChange) => boolean,
  current: () => Promise<StateChange | null>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<StateChange | null> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const waiting = deps.waits.wait(machineId, accept, timeoutMs, controller.signal);
  // Failed (its host lost) while `current()` still runs, it must not go unheard.
  waiting.catch(() => undefined);
  try {
    const now = await current();
    if (now && accept(now)) return now;
    return await waiting;
  } finally {
    // A reason given: no DOMException, stack and all, for every wait.
    controller.abort('the wait has its answer');
    signal?.removeEventListener('abort', onAbort);
  }
}

export async function waitMachine(deps: ControlDeps, appName: string, id: string, query: WaitQuery, signal?: AbortSignal): Promise<WaitResult> {
  const targets: WaitTarget[] = parseWaitTargets(query.state);
  const timeoutS = parseWaitTimeout(query.timeout);
  const version = query.version || query.instance_id || undefined;
  const machine = await loadMachine(deps, appName, id);
  if (version && version !== machine.version && !(await deps.store.getVersion(id, version))) {
    throw notFound(`machine ${id} has no version ${version}`);
  }
  const accept = (change: StateChange) => satisfies(versionState(change, version), targets);
  // A wait not answered at once on a host that is lost or silent would never be.
  const current = async () => {
    const now = await currentChange(deps, machine, query.from_event_id);
    if (!now || !accept(now)) assertHostReachable(deps, `machine ${id}`, machine.hostId);
    return now;
  };
  const change = await untilChange(deps, id, accept, current, timeoutS * 1000, signal);
  if (!change) {
    throw new HangarError('wait_timeout', `machine ${id} did not reach ${targets.join(' or ')} within ${timeoutS}s: machine failed to reach desired state`);
  }
  return { ok: true, state: versionState(change, version), version: version ?? change.version, event_id: change.eventId };
}

/**
 * The change to test before waiting. With `from_event_id`, only a state reached by
 * an event after that one counts; otherwise the machine's current state does.
 */
async function currentChange(deps: ControlDeps, machine: MachineRecord, fromEventId: string | undefined): Promise<StateChange | null> {
  const fresh = (await deps.store.getMachineById(machine.id)) ?? machine;
  const events = await deps.store.listEvents(machine.id, 1);
  const latest = events[0];
  if (fromEventId && (!latest || latest.id <= fromEventId)) return null;
  return { state: fresh.state, version: fresh.version, eventId: latest?.id ?? '' };
}
