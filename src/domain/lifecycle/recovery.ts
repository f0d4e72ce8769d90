/**
 * After hangar restarts: what to do with each machine given what the host found
 * of its VM (asked of the VMM, see RecoveredVm). A running VM is kept (never
 * rebooted); a VM that died meanwhile is an exit of the VMM, so the restart policy
 * applies and the event says why; an interrupted operation is carried out again;
 * a boot that should have been a resume says why it was not.
 */
import type { MachineRecord } from '../machine.ts';
import type { RecoveredVm } from '../runtime.ts';
import type { Effect } from './decision.ts';
import { stopParams } from './actions.ts';
import { LOST_VM_EXIT_CODE, type Observation } from './observations.ts';

export interface RecoveryPlan {
  observation?: Observation;
  effects: Effect[];
  /** The VM's suspend snapshot is gone: the next start is a cold boot. */
  snapshotLost?: boolean;
}

/** Why a started machine's VM is gone, when the host found nothing more to say. */
const VANISHED = 'the VM was no longer running when hangar restarted (its end was not seen)';

export function planRecovery(machine: MachineRecord, found: RecoveredVm): RecoveryPlan {
  const vmm = { reason: found.detail ?? VANISHED, log: [] };
  const lost: Observation = { kind: 'exited', exitCode: LOST_VM_EXIT_CODE, oomKilled: false, requested: false, vmm };
  const running = found.vm === 'running';
  const coldBoot: Effect = found.detail ? { kind: 'launch', resume: false, coldBootReason: found.detail } : { kind: 'launch', resume: false };
  // An exit recorded over a suspended VM leaves no snapshot behind it: the state would say no VM while one is kept.
  const leftover: Effect[] = found.vm === 'suspended' ? [{ kind: 'discard_snapshot' }] : [];
  switch (machine.state) {
    case 'started':
      return running ? { effects: [] } : { observation: lost, effects: leftover };
    case 'restarting':
      // A VM that runs may be the one the restart was to stop: restart it (twice at worst, never not at all).
      if (running) return { effects: [{ kind: 'restart', ...stopParams(machine.config, {}) }] };
      return { effects: [coldBoot] };
    case 'starting':
      if (running) return { observation: { kind: 'running', resumed: found.resumed === true }, effects: [] };
      // The start never touched its snapshot: it may still resume.
      if (found.vm === 'suspended') return { effects: [{ kind: 'launch', resume: true }] };
      return { effects: [coldBoot] };
    case 'replacing':
      // A VM of the old version still runs when hangar stopped before replacing it.
      if (running && found.version === machine.version) return { observation: { kind: 'running', resumed: false }, effects: [] };
      return { effects: [{ kind: 'replace', ...stopParams(machine.config, {}) }] };
    case 'stopping': {
      // A suspended VM: a resume was queued and then this stop, and neither ran before the host came back.
      if (!running) return { observation: { kind: 'exited', exitCode: 0, oomKilled: false, requested: true }, effects: leftover };
      return { effects: [{ kind: 'stop', ...stopParams(machine.config, {}) }] };
    }
    case 'suspending':
      // The suspend was acknowledged: recorded if the state was saved whole, else done again
      // on the VM the host found running (and continued, if the suspend had paused it).
      if (found.vm === 'suspended') return { observation: { kind: 'suspended' }, effects: [] };
      return running ? { effects: [{ kind: 'suspend' }] } : { observation: { ...lost, requested: true }, effects: [] };
    case 'suspended':
      return { effects: [], snapshotLost: found.vm !== 'suspended' && machine.hasSnapshot };
    case 'creating':
    case 'updating':
      return { effects: [{ kind: 'prepare' }] };
    case 'destroying':
    case 'launch_failed':
      return { effects: [{ kind: 'destroy' }] };
    case 'created':
    case 'stopped':
    case 'failed':
      // Nothing should run; a VM that does is stopped so that intent and host agree, and a
      // snapshot left (a stop of a suspended machine whose discard never ran) is discarded.
      if (running) return { effects: [{ kind: 'stop', signal: 'SIGKILL', timeoutMs: 0 }] };
      return { effects: found.vm === 'suspended' ? [{ kind: 'discard_snapshot' }] : [] };
    case 'destroyed':
    case 'replaced':
    case 'migrated':
      return { effects: [] };
  }
}
