/**
 * Decisions for what the host agent reports about a machine's VM. A report that
 * no longer fits the machine's state (a boot finishing after the user asked for a
 * stop) only updates `observed`: the effect queued behind it will act.
 */
import type { ImageRef } from '../image-ref.ts';
import type { MachineRecord, Observed } from '../machine.ts';
import type { VmmExit } from '../runtime.ts';
import { decideRestart } from '../restart-policy.ts';
import { type Decision, type DecisionContext, makeEvent, moveTo } from './decision.ts';

export type Observation =
  | { kind: 'prepared'; imageRef?: ImageRef }
  | { kind: 'prepare_failed'; reason: string }
  /**
   * `imageRef`: the resolved image, when the boot followed a prepare nobody reported (a replace).
   * `coldBootReason`: why a resume that was asked for became a cold boot.
   * `suspendCancelled`: the start cancelled a suspend in progress; the VM never stopped.
   */
  | { kind: 'running'; resumed: boolean; pid?: number; imageRef?: ImageRef; coldBootReason?: string; suspendCancelled?: boolean }
  /** `snapshotKept`: a resume was refused before it touched the snapshot, which may still be used. */
  | { kind: 'launch_failed'; reason: string; snapshotKept?: boolean }
  /**
   * `vmm`: the VMM itself ended (or was ended), not the machine's process.
   * `pid`: the VMM process of the VM that ended, when known (see onExited).
   */
  | { kind: 'exited'; exitCode: number; oomKilled: boolean; signal?: number; requested: boolean; vmm?: VmmExit; pid?: number }
  /** A watchdog found the VM of a started machine not running, and ended it. */
  | { kind: 'vm_failed'; vmm: VmmExit }
  | { kind: 'suspended' }
  | { kind: 'suspend_failed'; reason: string; stillRunning: boolean }
  | { kind: 'destroyed' };

export function decideObservation(machine: MachineRecord, observation: Observation, ctx: DecisionContext): Decision {
  switch (observation.kind) {
    case 'prepared': return onPrepared(machine, observation.imageRef, ctx);
    case 'prepare_failed': return onPrepareFailed(machine, observation.reason, ctx);
    case 'running': return onRunning(machine, observation, ctx);
    case 'launch_failed': return onLaunchFailed(machine, observation, ctx);
    case 'exited': return onExited(machine, observation, ctx);
    case 'vm_failed': return onVmFailed(machine, observation.vmm, ctx);
    case 'suspended': return onSuspended(machine, ctx);
    case 'suspend_failed': return onSuspendFailed(machine, observation, ctx);
    case 'destroyed': return onDestroyed(machine, ctx);
  }
}

function observe(machine: MachineRecord, observed: Omit<Observed, 'at'>, now: number): MachineRecord {
  return { ...machine, observed: { ...observed, at: now }, updatedAt: now };
}

function onPrepared(machine: MachineRecord, imageRef: ImageRef | undefined, ctx: DecisionContext): Decision {
  const withImage = imageRef ? { ...machine, imageRef } : machine;
  if (machine.state === 'creating') {
    const created = { ...moveTo(withImage, 'created', ctx.now), settleTo: undefined };
    const events = [makeEvent(ctx, created, 'launch', 'created', 'user')];
    if (machine.settleTo !== 'starting') return { machine: created, events, effects: [] };
    const starting = moveTo(created, 'starting', ctx.now);
    return { machine: starting, events, effects: [{ kind: 'launch', resume: false }] };
  }
  if (machine.state === 'updating') {
    const to = machine.settleTo ?? 'stopped';
    const next = { ...moveTo(withImage, to, ctx.now), settleTo: undefined };
    return { machine: next, events: [], effects: to === 'starting' ? [{ kind: 'launch', resume: false }] : [] };
  }
  return { machine: withImage, events: [], effects: [] };
}

function onPrepareFailed(machine: MachineRecord, reason: string, ctx: DecisionContext): Decision {
  if (machine.state === 'creating') {
    const next = moveTo(machine, 'launch_failed', ctx.now);
    return { machine: next, events: [makeEvent(ctx, next, 'launch', 'launch_failed', 'flyd', { error: reason })], effects: [{ kind: 'destroy' }] };
  }
  const from = machine.replacingFrom;
  if (machine.state === 'replacing' && from) {
    // The old VM was not stopped before the new version was prepared: it runs on, and so does its version.
    const back = { ...moveTo(machine, 'started', ctx.now), version: from.version, config: from.config, imageRef: from.imageRef, settleTo: undefined };
    return { machine: back, events: [makeEvent(ctx, back, 'update', 'started', 'flyd', { error: reason, rolled_back_to: from.version })], effects: [] };
  }
  if (machine.state === 'updating' || machine.state === 'replacing') {
    const next = { ...moveTo(machine, 'failed', ctx.now), settleTo: undefined };
    return { machine: next, events: [makeEvent(ctx, next, 'update', 'failed', 'flyd', { error: reason })], effects: [] };
  }
  return { machine, events: [], effects: [] };
}

function onRunning(machine: MachineRecord, observation: Extract<Observation, { kind: 'running' }>, ctx: DecisionContext): Decision {
  const withImage = observation.imageRef ? { ...machine, imageRef: observation.imageRef } : machine;
  const observed = observe(withImage, { vm: 'running', pid: observation.pid }, ctx.now);
  if (!['starting', 'restarting', 'replacing'].includes(machine.state)) return { machine: observed, events: [], effects: [] };
  const next = moveTo(observed, 'started', ctx.now);
  const request = {
    resumed: observation.resumed,
    restart_count: machine.restartCount,
    ...(observation.coldBootReason ? { cold_boot_reason: observation.coldBootReason } : {}),
    ...(observation.suspendCancelled ? { suspend_cancelled: true } : {}),
  };
  return { machine: next, events: [makeEvent(ctx, next, 'start', 'started', 'flyd', request)], effects: [] };
}

function onLaunchFailed(machine: MachineRecord, failure: { reason: string; snapshotKept?: boolean }, ctx: DecisionContext): Decision {
  const observed = observe(machine, { vm: 'absent', detail: failure.reason }, ctx.now);
  if (!['starting', 'restarting', 'replacing'].includes(machine.state)) return { machine: observed, events: [], effects: [] };
  if (failure.snapshotKept && machine.state === 'starting') {
    // Nothing was lost: the machine is suspended again, and a later start may still resume.
    const next = { ...moveTo(observed, 'suspended', ctx.now), desired: 'suspended' as const, hasSnapshot: true };
    return { machine: next, events: [makeEvent(ctx, next, 'launch', 'suspended', 'flyd', { error: failure.reason })], effects: [] };
  }
  const next = moveTo(observed, 'failed', ctx.now);
  return { machine: next, events: [makeEvent(ctx, next, 'launch', 'failed', 'flyd', { error: failure.reason })], effects: [] };
}

/** Only a machine the API still calls started is acted on; in any other state the effect queued after the check acts. */
function onVmFailed(machine: MachineRecord, vmm: VmmExit, ctx: DecisionContext): Decision {
  if (machine.state !== 'started') return { machine: observe(machine, { vm: 'exited', detail: vmm.reason }, ctx.now), events: [], effects: [] };
  return onExited(machine, { exitCode: LOST_VM_EXIT_CODE, oomKilled: false, requested: false, vmm }, ctx);
}

/** The exit code recorded when the VMM ended and the process's own code is unknown. */
export const LOST_VM_EXIT_CODE = 255;

/**
 * Whether an exit naming VMM process `pid` is about a VM other than the one the
 * machine runs: its end was recorded already (the watchdog found the VM gone before
 * the driver's own report came), and maybe a new VM runs since. Counting it again
 * would restart the machine twice for one exit, the second time under a healthy VM.
 */
function aboutAnotherVm(machine: MachineRecord, pid: number | undefined): boolean {
  if (pid === undefined) return false;
  const { vm, pid: running } = machine.observed;
  return vm !== 'running' || (running !== undefined && running !== pid);
}

function onExited(
  machine: MachineRecord,
  exit: { exitCode: number; oomKilled: boolean; signal?: number; requested: boolean; vmm?: VmmExit; pid?: number },
  ctx: DecisionContext,
): Decision {
  if (aboutAnotherVm(machine, exit.pid)) return { machine, events: [], effects: [] };
  const observed = observe(machine, { vm: 'exited', exitCode: exit.exitCode, ...(exit.vmm ? { detail: exit.vmm.reason } : {}) }, ctx.now);
  const exitEvent = (restarting: boolean, requested: boolean, restartCount: number) => ({
    exit_event: {
      exit_code: exit.exitCode,
      oom_killed: exit.oomKilled,
      requested_stop: requested,
      restarting,
      signal: exit.signal ?? -1,
      exited_at: new Date(ctx.now).toISOString(),
    },
    restart_count: restartCount,
    // The VMM died (or was ended): said apart from the exit of the machine's process.
    ...(exit.vmm ? { vmm_exit: { reason: exit.vmm.reason, log: exit.vmm.log } } : {}),
  });

  if (machine.state === 'stopping' || machine.state === 'suspending') {
    const next = moveTo(observed, 'stopped', ctx.now);
    return { machine: next, events: [makeEvent(ctx, next, 'exit', 'stopped', 'flyd', exitEvent(false, true, machine.restartCount))], effects: [] };
  }
  if (!['started', 'starting', 'restarting'].includes(machine.state)) return { machine: observed, events: [], effects: [] };

  const decision = decideRestart(machine.config, exit, machine.restartTimes, ctx.now);
  if (decision.restart) {
    const count = machine.restartCount + 1;
    const next = { ...moveTo(observed, 'restarting', ctx.now), restartCount: count, restartTimes: decision.restartTimes };
    return {
      machine: next,
      events: [makeEvent(ctx, next, 'exit', 'stopped', 'flyd', exitEvent(true, false, count))],
      effects: [{ kind: 'launch', resume: false }],
    };
  }
  const stopped = { ...moveTo(observed, 'stopped', ctx.now), desired: 'stopped' as const, restartTimes: decision.restartTimes };
  const events = [makeEvent(ctx, stopped, 'exit', 'stopped', 'flyd', exitEvent(false, false, machine.restartCount))];
  if (machine.config.auto_destroy) {
    const destroying = { ...moveTo(stopped, 'destroying', ctx.now), desired: 'destroyed' as const };
    events.push(makeEvent(ctx, destroying, 'destroy', 'destroying', 'flyd', { auto_destroy: true }));
    return { machine: destroying, events, effects: [{ kind: 'destroy' }] };
  }
  return { machine: stopped, events, effects: [] };
}

function onSuspended(machine: MachineRecord, ctx: DecisionContext): Decision {
  const observed = observe(machine, { vm: 'suspended' }, ctx.now);
  if (machine.state !== 'suspending') return { machine: observed, events: [], effects: [] };
  const next = { ...moveTo(observed, 'suspended', ctx.now), hasSnapshot: true };
  return { machine: next, events: [makeEvent(ctx, next, 'suspend', 'suspended', 'flyd')], effects: [] };
}

function onSuspendFailed(machine: MachineRecord, failure: { reason: string; stillRunning: boolean }, ctx: DecisionContext): Decision {
  const observed = observe(machine, { vm: failure.stillRunning ? 'running' : 'exited', detail: failure.reason }, ctx.now);
  if (machine.state !== 'suspending') return { machine: observed, events: [], effects: [] };
  const to: 'started' | 'stopped' = failure.stillRunning ? 'started' : 'stopped';
  const next = { ...moveTo(observed, to, ctx.now), desired: to, hasSnapshot: false };
  return { machine: next, events: [makeEvent(ctx, next, 'suspend', to, 'flyd', { error: failure.reason })], effects: [] };
}

function onDestroyed(machine: MachineRecord, ctx: DecisionContext): Decision {
  const observed = observe(machine, { vm: 'absent' }, ctx.now);
  if (machine.state !== 'destroying' && machine.state !== 'launch_failed') return { machine: observed, events: [], effects: [] };
  const next = moveTo(observed, 'destroyed', ctx.now);
  return { machine: next, events: [makeEvent(ctx, next, 'destroy', 'destroyed', 'flyd')], effects: [] };
}

/** Raises a wedged flag once per transient-state entry held past its threshold. */
export function decideWedged(machine: MachineRecord, thresholdMs: number | undefined, ctx: DecisionContext): Decision | null {
  if (thresholdMs === undefined || machine.wedgedAt === machine.stateSince) return null;
  const held = ctx.now - machine.stateSince;
  if (held < thresholdMs) return null;
  const next = { ...machine, wedgedAt: machine.stateSince, updatedAt: ctx.now };
  const request = { state: machine.state, since: new Date(machine.stateSince).toISOString(), held_ms: held, threshold_ms: thresholdMs };
  return { machine: next, events: [makeEvent(ctx, next, 'wedged', machine.state, 'flyd', request)], effects: [] };
}
