/**
 * After hangar restarts: what to do with each machine given what the host found
 * of its VM. A running VM is kept (never rebooted); a VM that died meanwhile is an
 * exit, so the restart policy applies; an interrupted operation is carried out again.
 */
import type { MachineRecord } from '../machine.ts';
import type { RecoveredVm } from '../runtime.ts';
import type { Effect } from './decision.ts';
import { stopParams } from './actions.ts';
import type { Observation } from './observations.ts';

export interface RecoveryPlan {
  observation?: Observation;
  effects: Effect[];
  /** The VM's suspend snapshot is gone: the next start is a cold boot. */
  snapshotLost?: boolean;
}

/** Exit code recorded when a VM vanished while hangar was down and its real code is unknown. */
export const LOST_EXIT_CODE = 255;

export function planRecovery(machine: MachineRecord, found: RecoveredVm): RecoveryPlan {
  const lost: Observation = { kind: 'exited', exitCode: LOST_EXIT_CODE, oomKilled: false, requested: false };
  switch (machine.state) {
    case 'started':
      return found === 'running' ? { effects: [] } : { observation: lost, effects: [] };
    case 'starting':
    case 'restarting':
      return found === 'running'
        ? { observation: { kind: 'running', resumed: false }, effects: [] }
        : { effects: [{ kind: 'launch', resume: false }] };
    case 'replacing':
      return found === 'running'
        ? { observation: { kind: 'running', resumed: false }, effects: [] }
        : { effects: [{ kind: 'prepare' }, { kind: 'launch', resume: false }] };
    case 'stopping': {
      if (found !== 'running') return { observation: { ...lost, exitCode: 0, requested: true }, effects: [] };
      return { effects: [{ kind: 'stop', ...stopParams(machine.config, {}) }] };
    }
    case 'suspending':
      if (found === 'suspended') return { observation: { kind: 'suspended' }, effects: [] };
      return found === 'running' ? { effects: [{ kind: 'suspend' }] } : { observation: { ...lost, requested: true }, effects: [] };
    case 'suspended':
      return { effects: [], snapshotLost: found !== 'suspended' && machine.hasSnapshot };
    case 'creating':
    case 'updating':
      return { effects: [{ kind: 'prepare' }] };
    case 'destroying':
    case 'launch_failed':
      return { effects: [{ kind: 'destroy' }] };
    case 'created':
    case 'stopped':
    case 'failed':
      // Nothing should run; a VM that does is stopped so that intent and host agree.
      return found === 'running' ? { effects: [{ kind: 'stop', signal: 'SIGKILL', timeoutMs: 0 }] } : { effects: [] };
    case 'destroyed':
    case 'replaced':
    case 'migrated':
      return { effects: [] };
  }
}
