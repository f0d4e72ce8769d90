/**
 * Draining a host (`hangar hosts drain <id>`): it is cordoned, so nothing new goes
 * there, then each of its machines moves to another host of its region
 * (control/move.ts): suspended ones with their snapshot, started ones suspended
 * first where they can be; with `stop`, the started ones that cannot be are
 * stopped and moved too. The rest are listed with the reason and left where they are.
 */
import { HangarError } from '../domain/errors.ts';
import { cordonHost } from './hosts.ts';
import { moveMachine } from './move.ts';
import type { ControlDeps } from './ports.ts';

export interface DrainReport {
  moved: Array<{ id: string; app: string; to: string }>;
  left: Array<{ id: string; app: string; state: string; reason: string }>;
}

export async function drainHost(deps: ControlDeps, hostId: string, options: { stop?: boolean }): Promise<DrainReport> {
  await cordonHost(deps, hostId, true);
  const report: DrainReport = { moved: [], left: [] };
  const machines = (await deps.store.listLiveMachines(hostId)).sort((a, b) => a.id.localeCompare(b.id));
  for (const machine of machines) {
    try {
      const moved = await moveMachine(deps, machine.appName, machine.id, { region: machine.region, suspend: true, stop: options.stop });
      report.moved.push({ id: machine.id, app: machine.appName, to: moved.hostId ?? '' });
    } catch (error) {
      if (!(error instanceof HangarError)) throw error;
      report.left.push({ id: machine.id, app: machine.appName, state: machine.state, reason: error.message });
    }
  }
  deps.log.info({ hostId, moved: report.moved.length, left: report.left.length }, `host ${hostId} drained: ${report.moved.length} moved, ${report.left.length} left`);
  return report;
}
