/**
 * What happens when a machine's main process exits by itself: Fly's restart
 * policies `no`, `on-failure` (max_retries, default 10, within 5 minutes) and `always`.
 */
import type { MachineConfig } from './config.ts';

export const DEFAULT_MAX_RETRIES = 10;
export const RETRY_WINDOW_MS = 5 * 60_000;

export interface ExitFacts {
  exitCode: number;
  oomKilled: boolean;
}

export interface RestartDecision {
  restart: boolean;
  /** Restart times still inside the window, including this one if restarting. */
  restartTimes: number[];
}

export function decideRestart(config: MachineConfig, exit: ExitFacts, restartTimes: number[], now: number): RestartDecision {
  const policy = config.restart?.policy ?? (config.schedule ? 'on-failure' : 'on-failure');
  const recent = restartTimes.filter((t) => now - t < RETRY_WINDOW_MS);
  const failed = exit.exitCode !== 0 || exit.oomKilled;
  let restart = false;
  if (policy === 'always') restart = true;
  else if (policy === 'on-failure' && failed) {
    const max = config.restart?.max_retries ?? DEFAULT_MAX_RETRIES;
    restart = recent.length < max;
  }
  return { restart, restartTimes: restart ? [...recent, now] : recent };
}
