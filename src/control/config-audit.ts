/**
 * At start-up, every live machine's stored config is checked against today's
 * config rules (a data directory may hold configs written by an older hangar, or
 * edited by hand). A machine whose config cannot be used is marked, gets one event
 * saying why, and is left alone: no recovery, no routing, no checks, no action but
 * update and destroy. The server comes up whatever its data directory holds.
 */
import { storedConfigProblem } from '../domain/config.ts';
import { makeEvent, unchanged } from '../domain/lifecycle/decision.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { writeMachineById } from './machine-writer.ts';
import { type ControlDeps, hostedHere } from './ports.ts';

/** Marks (or clears) each live machine's config problem; returns the machines as they now are. */
export async function auditStoredConfigs(deps: ControlDeps): Promise<MachineRecord[]> {
  const audited: MachineRecord[] = [];
  for (const machine of hostedHere(deps, await deps.store.listLiveMachines())) {
    const problem = storedConfigProblem(machine.config) ?? undefined;
    if (problem === machine.configProblem) {
      audited.push(machine);
      continue;
    }
    if (problem) deps.log.error({ machineId: machine.id, problem }, `machine ${machine.id}: its stored config is invalid; leaving it alone`);
    const { after } = await writeMachineById(deps, machine.id, (current, ctx) => {
      const now = storedConfigProblem(current.config) ?? undefined;
      if (now === current.configProblem) return unchanged(current);
      const next = { ...current, configProblem: now, updatedAt: ctx.now };
      return { machine: next, events: now ? [makeEvent(ctx, next, 'config', 'invalid', 'flyd', { error: now })] : [], effects: [] };
    });
    audited.push(after);
  }
  return audited;
}
