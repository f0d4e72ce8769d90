/**
 * The watchdog, every interval:
 * - flags machines stuck in a transient state past Fly's "wedged" thresholds
 *   (starting/stopping/restarting/destroying > 5 min, updating > 10 min): one event
 *   and one log line per stuck state;
 * - asks the host whether each started machine's VM really runs (QEMU there and
 *   `running` per query-status). One that does not is ended and reported, so the
 *   restart policy applies with an event saying why. The VMM's own events (QEMU
 *   gone, paused on an I/O error) report such a VM at once; this is the net under them.
 */
import { unchanged } from '../domain/lifecycle/decision.ts';
import { type LocalRuntime, specOf } from '../domain/runtime.ts';
import { decideWedged } from '../domain/lifecycle/observations.ts';
import { isTransient, TRANSIENT_STATES } from '../domain/states.ts';
import { writeMachineById } from './machine-writer.ts';
import { type ControlDeps, hostedHere } from './ports.ts';

/** Checks every live machine once; returns the ids flagged. */
export async function checkWedged(deps: ControlDeps): Promise<string[]> {
  const flagged: string[] = [];
  for (const machine of hostedHere(deps, await deps.store.listMachinesInStates(TRANSIENT_STATES))) {
    if (!isTransient(machine.state)) continue;
    const threshold = deps.settings.wedgedAfterMs[machine.state];
    if (decideWedged(machine, threshold, { now: deps.clock.now(), newId: () => '' }) === null) continue;
    const { after } = await writeMachineById(deps, machine.id, (current, ctx) => {
      if (!isTransient(current.state)) return unchanged(current);
      return decideWedged(current, deps.settings.wedgedAfterMs[current.state], ctx) ?? unchanged(current);
    });
    if (after.wedgedAt !== undefined) flagged.push(machine.id);
  }
  return flagged;
}

/** Queues a check of every started machine's VM with this host's agent (each behind that machine's other effects). */
export async function checkVms(deps: ControlDeps, agent: Pick<LocalRuntime, 'checkVm'>): Promise<number> {
  const started = hostedHere(deps, await deps.store.listMachinesInStates(['started']));
  for (const machine of started) agent.checkVm(specOf(machine));
  return started.length;
}

/** Runs `checkWedged` and `checkVms` every `intervalMs` until stopped. */
export function startWatchdog(deps: ControlDeps, agent: Pick<LocalRuntime, 'checkVm'>, intervalMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    checkWedged(deps)
      .catch((error: unknown) => deps.log.error({ err: error }, 'wedge watchdog failed'))
      .then(() => checkVms(deps, agent))
      .catch((error: unknown) => deps.log.error({ err: error }, 'VM watchdog failed'))
      .finally(() => { running = false; });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
