/**
 * What every lifecycle decision returns: the record to persist, the events to
 * record with it, and the effects the host agent must carry out afterwards.
 */
import type { MachineEvent, MachineRecord } from '../machine.ts';
import type { SignalName } from '../signals.ts';
import { canTransition, type MachineState } from '../states.ts';

export type Effect =
  /** Fetch the image and build the root filesystem of the current version. */
  | { kind: 'prepare' }
  /**
   * Boot the VM; with `resume`, try the suspend snapshot first. `coldBootReason`:
   * why a boot that should have been a resume is cold (found when hangar restarted).
   */
  | { kind: 'launch'; resume: boolean; coldBootReason?: string }
  | { kind: 'stop'; signal: SignalName; timeoutMs: number }
  | { kind: 'restart'; signal: SignalName; timeoutMs: number }
  /** Prepare the new version while the old one runs, then stop the old VM and boot the new one. */
  | { kind: 'replace'; signal: SignalName; timeoutMs: number }
  | { kind: 'suspend' }
  /** A start arrived during a suspend: give it up if it is still running (not queued behind it). */
  | { kind: 'cancel_suspend' }
  | { kind: 'discard_snapshot' }
  | { kind: 'destroy' };

export interface Decision {
  machine: MachineRecord;
  events: MachineEvent[];
  effects: Effect[];
}

/** Time and ids come from outside: the domain has no clock and no randomness. */
export interface DecisionContext {
  now: number;
  newId: () => string;
}

/** Default grace period between the stop signal and SIGKILL (Fly's kill_timeout). */
export const DEFAULT_STOP_TIMEOUT_MS = 5000;

/** Moves a record to `to`; a move the table does not allow is a bug, not a user error. */
export function moveTo(machine: MachineRecord, to: MachineState, now: number): MachineRecord {
  if (machine.state === to) return { ...machine, updatedAt: now };
  if (!canTransition(machine.state, to)) {
    throw new Error(`lifecycle bug: ${machine.id} cannot move from ${machine.state} to ${to}`);
  }
  // The version a replace started from matters only while replacing.
  return { ...machine, state: to, stateSince: now, wedgedAt: undefined, updatedAt: now, replacingFrom: undefined };
}

export function makeEvent(
  ctx: DecisionContext,
  machine: MachineRecord,
  type: string,
  status: string,
  source: 'user' | 'flyd',
  request: Record<string, unknown> = {},
): MachineEvent {
  return { id: ctx.newId(), machineId: machine.id, type, status, source, timestamp: ctx.now, request };
}

export function unchanged(machine: MachineRecord): Decision {
  return { machine, events: [], effects: [] };
}

