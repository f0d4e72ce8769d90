/**
 * Draining a host (`hangar hosts drain <id>`): it is cordoned, so nothing new goes
 * there, then each of its machines that can move now (control/move.ts) moves to
 * another host of its region; with `stop`, machines that run are stopped first and
 * moved too. The rest (suspended machines among them, until a move carries their
 * snapshot) are listed with the reason and left where they are.
 */
import { HangarError } from '../domain/errors.ts';
import { moveRefusal } from '../domain/lifecycle/move.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { stopMachine } from './actions.ts';
import { cordonHost } from './hosts.ts';
import { moveMachine } from './move.ts';
import type { ControlDeps } from './ports.ts';
import { waitMachine } from './waiting.ts';

export interface DrainReport {
  moved: Array<{ id: string; app: string; to: string }>;
  left: Array<{ id: string; app: string; state: string; reason: string }>;
}

/** States a drain with `stop` stops before moving (a suspended machine is left: stopping it would lose its memory). */
const STOPPABLE = new Set(['started']);

export async function drainHost(deps: ControlDeps, hostId: string, options: { stop?: boolean }): Promise<DrainReport> {
  await cordonHost(deps, hostId, true);
  const report: DrainReport = { moved: [], left: [] };
  const machines = (await deps.store.listLiveMachines(hostId)).sort((a, b) => a.id.localeCompare(b.id));
  for (const machine of machines) {
    try {
      const ready = options.stop && STOPPABLE.has(machine.state) ? await stopped(deps, machine) : machine;
      const refusal = moveRefusal(ready);
      if (refusal) throw refusal;
      const moved = await moveMachine(deps, machine.appName, machine.id, { region: machine.region });
      report.moved.push({ id: machine.id, app: machine.appName, to: moved.hostId ?? '' });
    } catch (error) {
      if (!(error instanceof HangarError)) throw error;
      report.left.push({ id: machine.id, app: machine.appName, state: machine.state, reason: error.message });
    }
  }
  deps.log.info({ hostId, moved: report.moved.length, left: report.left.length }, `host ${hostId} drained: ${report.moved.length} moved, ${report.left.length} left`);
  return report;
}

async function stopped(deps: ControlDeps, machine: MachineRecord): Promise<MachineRecord> {
  await stopMachine(deps, machine.appName, machine.id, {}, undefined);
  await waitMachine(deps, machine.appName, machine.id, { state: 'stopped', timeout: '60' });
  return await deps.store.getMachine(machine.appName, machine.id) ?? machine;
}
