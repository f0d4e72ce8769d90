/**
 * Decisions for what a user asks: start, stop, restart, suspend, update, destroy.
 * Each checks the action against the table (refusing with the current state named)
 * and returns the new record, its events and the effects for the host agent.
 */
import type { MachineConfig } from '../config.ts';
import { parseDurationInput } from '../duration.ts';
import { HangarError } from '../errors.ts';
import type { ImageRef } from '../image-ref.ts';
import type { MachineRecord } from '../machine.ts';
import { parseSignal, type SignalName } from '../signals.ts';
import { ACTIONS, allowedActions, RUNNING_STATES, type MachineState, type UserAction } from '../states.ts';
import { suspendRefusal } from '../suspend.ts';
import { type Decision, type DecisionContext, DEFAULT_STOP_TIMEOUT_MS, makeEvent, moveTo, unchanged } from './decision.ts';

/** The state an action leads to, or an error naming the current state. */
export function targetOf(machine: MachineRecord, action: UserAction): MachineState {
  if (machine.configProblem !== undefined && action !== 'update' && action !== 'destroy') {
    throw new HangarError(
      'invalid_state',
      `cannot ${action} machine ${machine.id}: its stored config is invalid (${machine.configProblem})`,
      'update the machine with a valid config, or destroy it',
    );
  }
  const target = ACTIONS[machine.state][action];
  if (!target) {
    const allowed = allowedActions(machine.state);
    throw new HangarError(
      'invalid_state',
      `cannot ${action} machine ${machine.id}: machine is ${machine.state}`,
      allowed.length ? `in state ${machine.state} you can: ${allowed.join(', ')}` : `state ${machine.state} allows no action`,
    );
  }
  return target;
}

export interface StopOptions {
  signal?: unknown;
  /**
   * The grace period. Zero counts as unset: fly-go sends its zero fly.Duration
   * (`"0s"`) on every stop where the user gave no timeout.
   */
  timeout?: unknown;
  /** SIGKILL at once, no grace period (restart's `force_stop`). */
  force?: boolean;
}

/** The stop signal and grace period: the request's, else the config's stop_config, else Fly's defaults. */
export function stopParams(config: MachineConfig, options: StopOptions): { signal: SignalName; timeoutMs: number } {
  if (options.force) return { signal: 'SIGKILL', timeoutMs: 0 };
  const configured = configStop(config);
  const signal = options.signal !== undefined && options.signal !== '' ? parseSignal(options.signal) : configured.signal;
  const requestedMs = options.timeout !== undefined && options.timeout !== '' ? parseDurationInput(options.timeout, 'timeout', 's') : 0;
  return { signal, timeoutMs: requestedMs > 0 ? requestedMs : configured.timeoutMs };
}

/**
 * The stop signal and grace period a stored config asks for, else Fly's defaults.
 * It never throws: what a request refuses is the request's fault, but a stored
 * config that cannot be read (an empty signal, stored before `""` was taken as
 * unset) must not make a machine impossible to stop, restart or update.
 */
export function configStop(config: Pick<MachineConfig, 'stop_config'>): { signal: SignalName; timeoutMs: number } {
  const { signal, timeout } = config.stop_config ?? {};
  return {
    signal: readable(() => (signal === undefined || signal === '' ? undefined : parseSignal(signal))) ?? 'SIGINT',
    timeoutMs: readable(() => (timeout === undefined ? undefined : parseDurationInput(timeout, 'stop_config.timeout', 'ns'))) ?? DEFAULT_STOP_TIMEOUT_MS,
  };
}

function readable<T>(read: () => T | undefined): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/**
 * Starts a machine. A suspended one resumes from its snapshot when it has one.
 * A suspending one keeps running: the suspend is cancelled, or, if it finished
 * first, resumed at once (as Fly does).
 */
export function decideStart(machine: MachineRecord, ctx: DecisionContext): Decision {
  const target = targetOf(machine, 'start');
  const suspending = machine.state === 'suspending';
  const resume = suspending || (machine.state === 'suspended' && machine.hasSnapshot);
  // A snapshot is used at most once: it is consumed by this start whatever happens next.
  const next = { ...moveTo(machine, target, ctx.now), desired: 'started' as const, hasSnapshot: false, restartCount: 0, restartTimes: [] };
  const launch = { kind: 'launch' as const, resume };
  return {
    machine: next,
    events: [makeEvent(ctx, next, 'start', target, 'user', { previous_state: machine.state })],
    effects: suspending ? [{ kind: 'cancel_suspend' }, launch] : [launch],
  };
}

/**
 * Starts a fork's child, made in `created` with a snapshot of its parent: it resumes
 * from that snapshot. The lease the fork held on it while the snapshot was made goes.
 */
export function decideStartForked(child: MachineRecord, parentId: string, ctx: DecisionContext): Decision {
  const target = targetOf(child, 'start');
  const next = { ...moveTo(child, target, ctx.now), desired: 'started' as const, hasSnapshot: false, lease: null };
  return {
    machine: next,
    events: [makeEvent(ctx, next, 'fork', target, 'user', { parent: parentId })],
    effects: [{ kind: 'launch', resume: true }],
  };
}

export function decideStop(machine: MachineRecord, options: StopOptions, ctx: DecisionContext): Decision {
  const params = stopParams(machine.config, options);
  const target = targetOf(machine, 'stop');
  const next = { ...moveTo(machine, target, ctx.now), desired: 'stopped' as const, hasSnapshot: false };
  const effects: Decision['effects'] = machine.state === 'suspended'
    ? [{ kind: 'discard_snapshot' }]
    : [{ kind: 'stop', ...params }];
  return {
    machine: next,
    events: [makeEvent(ctx, next, 'stop', target, 'user', { signal: params.signal, timeout_ms: params.timeoutMs })],
    effects,
  };
}

export function decideRestart(machine: MachineRecord, options: StopOptions, ctx: DecisionContext): Decision {
  const params = stopParams(machine.config, options);
  const target = targetOf(machine, 'restart');
  const next = { ...moveTo(machine, target, ctx.now), desired: 'started' as const, hasSnapshot: false };
  return {
    machine: next,
    events: [makeEvent(ctx, next, 'restart', target, 'user', { signal: params.signal })],
    effects: [target === 'restarting' ? { kind: 'restart', ...params } : { kind: 'launch', resume: false }],
  };
}

export function decideSuspend(machine: MachineRecord, maxMemoryMb: number, ctx: DecisionContext): Decision {
  const target = targetOf(machine, 'suspend');
  const refusal = suspendRefusal(machine.config, maxMemoryMb);
  if (refusal) throw new HangarError('not_eligible', `cannot suspend machine ${machine.id}: ${refusal}`, 'stop the machine instead');
  const next = { ...moveTo(machine, target, ctx.now), desired: 'suspended' as const };
  return { machine: next, events: [makeEvent(ctx, next, 'suspend', target, 'user')], effects: [{ kind: 'suspend' }] };
}

export interface UpdateRequest {
  config: MachineConfig;
  imageRef: ImageRef;
  version: string;
  skipLaunch: boolean;
}

/**
 * A running machine is replaced: the new version is prepared while the old VM
 * runs, then the old VM stops and the new version boots (if preparing fails, the
 * old version stays: see onPrepareFailed). Any other machine is updated in place
 * and then started, unless `skip_launch`. A suspended machine is treated as
 * stopped: its snapshot is discarded.
 */
export function decideUpdate(machine: MachineRecord, update: UpdateRequest, ctx: DecisionContext): Decision {
  const target = targetOf(machine, 'update');
  const moved = moveTo(machine, target, ctx.now);
  const base = { ...moved, config: update.config, imageRef: update.imageRef, version: update.version, hasSnapshot: false, configProblem: undefined };
  if (target === 'replacing') {
    const params = stopParams(machine.config, {});
    const replacingFrom = { version: machine.version, config: machine.config, imageRef: machine.imageRef };
    const next = { ...base, desired: 'started' as const, restartCount: 0, restartTimes: [], replacingFrom };
    return {
      machine: next,
      events: [makeEvent(ctx, next, 'update', 'replacing', 'user', { version: update.version })],
      effects: [{ kind: 'replace', ...params }],
    };
  }
  const settleTo: MachineState = update.skipLaunch ? (machine.state === 'created' ? 'created' : 'stopped') : 'starting';
  const next = { ...base, settleTo, desired: update.skipLaunch ? machine.desired : ('started' as const) };
  const effects: Decision['effects'] = machine.hasSnapshot ? [{ kind: 'discard_snapshot' }, { kind: 'prepare' }] : [{ kind: 'prepare' }];
  return { machine: next, events: [makeEvent(ctx, next, 'update', 'updating', 'user', { version: update.version })], effects };
}

/**
 * An update refused before anything changed (its image could not be prepared): the
 * machine stays as it is, with an `update` event that says why.
 */
export function decideUpdateRefused(machine: MachineRecord, image: string, reason: string, ctx: DecisionContext): Decision {
  targetOf(machine, 'update');
  const next = { ...machine, updatedAt: ctx.now };
  return { machine: next, events: [makeEvent(ctx, next, 'update', machine.state, 'user', { image, error: reason })], effects: [] };
}

export function decideDestroy(machine: MachineRecord, force: boolean, ctx: DecisionContext): Decision {
  const target = targetOf(machine, 'destroy');
  if (!force && RUNNING_STATES.includes(machine.state)) {
    throw new HangarError(
      'invalid_state',
      `cannot destroy machine ${machine.id}: machine is ${machine.state}`,
      'stop it first, or destroy with force=true (or kill=true)',
    );
  }
  const next = { ...moveTo(machine, target, ctx.now), desired: 'destroyed' as const, hasSnapshot: false };
  return { machine: next, events: [makeEvent(ctx, next, 'destroy', target, 'user', { force })], effects: [{ kind: 'destroy' }] };
}

/**
 * A machine written off with its host (an operator forgot a lost host): destroyed
 * here, since no host will ever report it so, with events that say why. Its VM, if
 * the host still runs it, is that host's to end when it is let rejoin.
 */
export function decideWrittenOff(machine: MachineRecord, reason: string, ctx: DecisionContext): Decision {
  if (machine.state === 'destroyed') return unchanged(machine);
  const destroying = machine.state === 'destroying' || machine.state === 'launch_failed' ? machine : moveTo(machine, 'destroying', ctx.now);
  const next = { ...moveTo(destroying, 'destroyed', ctx.now), desired: 'destroyed' as const, hasSnapshot: false };
  return { machine: next, events: [makeEvent(ctx, next, 'destroy', 'destroyed', 'flyd', { reason })], effects: [] };
}
