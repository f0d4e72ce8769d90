/**
 * Fly's `config.standbys`: the machines a machine stands by for. It is started
 * when every one of them is on a lost host (see lost-hosts.ts). Create and update
 * take only machines of the same app, not the machine itself, and no standbys on
 * a machine with services (Fly's rule: a standby serves nothing until started).
 */
import type { MachineConfig } from '../domain/config.ts';
import { invalid } from '../domain/errors.ts';
import type { ControlDeps } from './ports.ts';

/** Refuses `config.standbys` of machine `machineId` (absent: being created) of app `appName` unless it follows the rules above. */
export async function checkStandbys(deps: ControlDeps, appName: string, machineId: string | undefined, config: MachineConfig): Promise<void> {
  const standbys = config.standbys ?? [];
  if (standbys.length === 0) return;
  if ((config.services ?? []).length > 0) throw invalid('config.standbys: a machine with services cannot be a standby', 'remove the services, or the standbys');
  for (const id of standbys) {
    if (id === machineId) throw invalid(`config.standbys: machine ${id} cannot stand by for itself`);
    if (!(await deps.store.getMachine(appName, id))) throw invalid(`config.standbys: ${JSON.stringify(id)} is not a machine of app ${appName}`);
  }
}
