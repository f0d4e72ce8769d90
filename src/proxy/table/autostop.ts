/**
 * Which idle machines the proxy retires in one pass, by Fly's rule: per group,
 * `excess = running − (running over soft limit + 1)`; a lone machine only at zero
 * load; `min_machines_running` kept. Beyond Fly, several machines may go in one
 * pass, but only ones idle for the whole idle period, so a machine that just
 * served (or was just woken) is never retired: no flapping. Pure.
 */
import type { Autostop } from '../../domain/config.ts';

export interface IdleCandidate {
  id: string;
  /** Requests or connections now. */
  load: number;
  softLimit: number;
  /** When it last had traffic, or was started (unix ms). */
  lastActive: number;
  autostop: Autostop;
  minMachinesRunning: number;
  /** The machine may be suspended (else a "suspend" autostop stops it). */
  suspendable: boolean;
}

export interface Retirement {
  id: string;
  action: 'suspend' | 'stop';
}

/** `running`: the group's started, uncordoned machines. */
export function chooseRetirements(running: readonly IdleCandidate[], now: number, idleMs: number): Retirement[] {
  if (running.length === 0) return [];
  const totalLoad = running.reduce((sum, m) => sum + m.load, 0);
  const overSoft = running.filter((m) => m.load > m.softLimit).length;
  const excess = totalLoad === 0 ? running.length : running.length - (overSoft + 1);
  const keep = Math.max(...running.map((m) => m.minMachinesRunning));
  const allowed = Math.min(excess, running.length - keep);
  if (allowed <= 0) return [];
  return running
    .filter((m) => m.autostop !== false && m.load === 0 && now - m.lastActive >= idleMs)
    .sort((a, b) => a.lastActive - b.lastActive || a.id.localeCompare(b.id))
    .slice(0, allowed)
    .map((m) => ({ id: m.id, action: m.autostop === 'suspend' && m.suspendable ? 'suspend' : 'stop' }));
}

/**
 * The app's primary region, where min_machines_running holds: PRIMARY_REGION as
 * flyctl sets it in the machines' environment (the oldest machine's that has it),
 * else the region of the oldest machine.
 */
export function primaryRegion(machines: ReadonlyArray<{ id: string; region: string; createdAt: number; config: { env?: Record<string, string> } }>): string | undefined {
  const oldestFirst = [...machines].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  const named = oldestFirst.find((machine) => typeof machine.config.env?.PRIMARY_REGION === 'string' && machine.config.env.PRIMARY_REGION !== '');
  return named?.config.env?.PRIMARY_REGION ?? oldestFirst[0]?.region;
}
