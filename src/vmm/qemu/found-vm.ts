/**
 * What QEMU says a VM is, and what hangar does with a VM it finds when it
 * restarts (pure, so the rules are tested alone). Only hangar ever pauses a VM
 * (to save it, or as it waits for a loaded state to be continued), and only
 * QEMU's `query-status` and `query-migrate` say where a crash of hangar left it:
 *
 * | QEMU says                                 | it is                                      | hangar           |
 * |-------------------------------------------|--------------------------------------------|------------------|
 * | running                                   | a VM that runs                             | keeps it         |
 * | postmigrate, state saved whole            | a suspend that had saved the VM            | records the snapshot, ends QEMU |
 * | paused or postmigrate                     | a suspend that had paused the VM, or a resume that had loaded it | continues it |
 * | inmigrate                                 | a resume that never loaded the VM state    | ends it (cold boot, with the reason) |
 * | io-error                                  | a VM paused on a disk error (a full disk)  | ends it, saying so |
 * | anything else                             | a VM that cannot go on                     | ends it, saying so |
 *
 * "State saved whole" is `vmstate.saved`, renamed from the partial file only once
 * QEMU said the save completed and the file held all of it.
 */

export type FoundVmAction =
  | { do: 'keep' }
  | { do: 'commit'; why: string }
  | { do: 'continue'; why: string }
  | { do: 'end'; why: string };

export interface VmFacts {
  /** query-status's `status`. */
  status: string;
  /** query-migrate's `status`, if any migration ran in this QEMU. */
  migration?: string;
  /** The QEMU was started with `-incoming` (for a resume). */
  incoming: boolean;
  /** A suspend saved the VM's state whole (`vmstate.saved`). */
  stateSaved: boolean;
}

export function foundVmAction(facts: VmFacts): FoundVmAction {
  switch (facts.status) {
    case 'running':
      return { do: 'keep' };
    case 'postmigrate':
      // A save that completed leaves QEMU in postmigrate; the file is whole only once renamed.
      if (facts.stateSaved && facts.migration === 'completed') {
        return { do: 'commit', why: 'hangar stopped during a suspend, after the VM state was saved: the snapshot was recorded' };
      }
      return { do: 'continue', why: 'hangar stopped during a suspend that had paused the VM: the VM was continued' };
    case 'paused':
      return {
        do: 'continue',
        why: facts.incoming && facts.migration === 'completed'
          ? 'hangar stopped while the VM was paused, its state loaded by a resume or about to be saved by a suspend: the VM was continued'
          : 'hangar stopped during a suspend that had paused the VM: the VM was continued',
      };
    case 'inmigrate':
      return { do: 'end', why: 'hangar stopped during a resume, before QEMU had loaded the VM state: that QEMU was ended and the snapshot discarded' };
    case 'io-error':
      return { do: 'end', why: 'the VM was paused on an I/O error (is the host\'s disk full?): it was ended' };
    default:
      return { do: 'end', why: `QEMU reported the VM as "${facts.status}", from which it cannot go on: it was ended` };
  }
}

/** Why QEMU shut down, from its SHUTDOWN event's `reason`, when the machine's process had not exited. */
export function shutdownReason(reason: string | undefined): string {
  switch (reason) {
    case undefined: return 'QEMU ended without shutting the VM down (it was killed or crashed)';
    case 'guest-panic': return 'the guest kernel panicked';
    case 'guest-reset': return 'the guest reset itself (a kernel panic or a reboot)';
    case 'guest-shutdown': return 'the guest powered off before its process exited';
    case 'host-signal': return 'QEMU was told to end by a signal';
    case 'host-qmp-quit': return 'QEMU was told to quit';
    default: return `QEMU shut down (${reason})`;
  }
}
