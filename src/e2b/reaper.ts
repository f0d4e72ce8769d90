/**
 * Ends sandboxes whose time is up (`endAt`): each running one past its end is
 * suspended when its lifecycle says pause (`autoPause`), else destroyed, as E2B
 * does. Paused sandboxes are kept until killed. What is left over is swept
 * (sweep.ts): spares that can no longer be taken, spares and bases whose template
 * is gone, and forks and spares a process that went away left half made. Runs
 * in every API process: two replicas ending one sandbox at once is harmless (the
 * second finds it done).
 */
import { destroyMachine, suspendMachine } from '../control/actions.ts';
import type { ControlDeps } from '../control/ports.ts';
import { sandboxOf } from './sandbox-machine.ts';
import { e2bMachines } from './sandboxes.ts';
import { sweepLeftovers } from './sweep.ts';

const EVERY_MS = 500;

/** One pass: what was ended, for the log and for tests. */
export async function reapSandboxes(deps: ControlDeps): Promise<Array<{ id: string; ended: 'killed' | 'paused' }>> {
  const now = deps.clock.now();
  const ended: Array<{ id: string; ended: 'killed' | 'paused' }> = [];
  const machines = await e2bMachines(deps);
  const swept = await sweepLeftovers(deps, machines).catch((error: unknown) => {
    deps.log.warn({ err: error }, 'e2b: sweeping leftovers failed; tried again next pass');
    return [];
  });
  for (const id of swept) deps.log.info({ machineId: id }, 'e2b: a leftover was destroyed (a spare that could no longer be taken, a base or spare of a template that is gone, or a fork or spare left half made)');
  for (const machine of machines) {
    const sandbox = sandboxOf(machine);
    if (!sandbox || sandbox.state !== 'running' || sandbox.endAt > now || machine.state !== 'started') continue;
    try {
      if (sandbox.onTimeout === 'pause') {
        await suspendMachine(deps, machine.appName, machine.id, undefined);
        ended.push({ id: machine.id, ended: 'paused' });
      } else {
        await destroyMachine(deps, machine.appName, machine.id, { force: true, nonce: undefined });
        ended.push({ id: machine.id, ended: 'killed' });
      }
    } catch (error) {
      deps.log.warn({ err: error, machineId: machine.id }, 'e2b: ending a sandbox whose time is up failed; tried again next pass');
    }
  }
  for (const each of ended) deps.log.info({ machineId: each.id }, `e2b: sandbox ${each.ended} at the end of its timeout`);
  return ended;
}

/** Runs `reapSandboxes` every half second until stopped. */
export function startReaper(deps: ControlDeps): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reapSandboxes(deps).catch((error: unknown) => deps.log.warn({ err: error }, 'e2b: a reaper pass failed')).finally(() => { running = false; });
  }, EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
