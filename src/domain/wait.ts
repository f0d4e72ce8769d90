/** The predicate behind `GET …/wait`: which states a waiter accepts. */
import { invalid } from './errors.ts';
import { isTransient, type MachineState } from './states.ts';

export const WAITABLE = ['started', 'stopped', 'suspended', 'destroyed', 'failed', 'settled'] as const;
export type WaitTarget = (typeof WAITABLE)[number];
export const MAX_WAIT_S = 60;

/** Parses `state` (repeated or comma-separated); the default is `started`. */
export function parseWaitTargets(raw: string | string[] | undefined): WaitTarget[] {
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (values.length === 0) return ['started'];
  for (const value of values) {
    if (!(WAITABLE as readonly string[]).includes(value)) {
      throw invalid(`invalid state "${value}": wait accepts ${WAITABLE.join(', ')}`);
    }
  }
  return values as WaitTarget[];
}

export function parseWaitTimeout(raw: string | undefined): number {
  if (raw === undefined || raw === '') return MAX_WAIT_S;
  const seconds = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_WAIT_S) {
    throw invalid(`timeout must be a whole number of seconds from 1 to ${MAX_WAIT_S}`);
  }
  return seconds;
}

/**
 * Whether `state` satisfies a waiter. A replaced version has stopped for good, so it
 * satisfies `stopped` (flyctl waits for the old version to stop during an update).
 */
export function satisfies(state: MachineState, targets: readonly WaitTarget[]): boolean {
  return targets.some((target) => {
    if (target === 'settled') return !isTransient(state);
    if (target === 'stopped') return state === 'stopped' || state === 'replaced';
    return state === target;
  });
}
