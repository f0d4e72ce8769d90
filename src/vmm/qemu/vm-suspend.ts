/**
 * Suspending a machine's VM, the counterpart of the resume in vm-launch.ts: the
 * guest flushes its disks, the VM pauses, its device state goes to a file (RAM is
 * already in one), QEMU ends and the snapshot is recorded. A start may cancel a
 * suspend under way (cancelSuspend): the VM then runs on. Every way out leaves the
 * VM running (checked with QEMU) or ended, never paused.
 */
import { rename, rm } from 'node:fs/promises';
import { failpoint } from '../../system/failpoints.ts';
import { MIGRATION_TIMEOUT_MS, saveState } from './migration.ts';
import { continueVm, hasEnded, markEnded, quitVm, reasonOf, unlessIoError, type VmPhase } from './running-vm.ts';
import { commitSnapshot, removeSnapshot } from './snapshot.ts';
import type { VmHost } from './vm-host.ts';
import { isQemu, killQemu, waitGone } from './vm-process.ts';
import { writeOutSnapshot } from './write-out.ts';

export class SuspendCancelled extends Error {
  constructor() {
    super('suspend cancelled by a start');
  }
}

/**
 * Suspends the machine's running VM. If saving fails, or a start cancels the
 * suspend meanwhile, the VM carries on (QEMU is asked that it does); if it cannot
 * (QEMU died, or the VM paused on a disk error), it is ended and the error says so.
 */
export async function suspendVm(host: VmHost, machineId: string): Promise<void> {
  const vm = host.running(machineId);
  const files = host.files(machineId);
  const attempt: VmPhase = { is: 'suspending', cancelled: false };
  vm.phase = attempt;
  // The suspend gave up and the VM was not ended meanwhile: it runs on.
  const runOn = () => {
    if (vm.phase === attempt) vm.phase = { is: 'running' };
  };
  try {
    // Whatever the guest wrote reaches its disks, so they agree with the snapshot (and survive its loss).
    await unlessIoError(vm, 'while it flushed its disks', vm.agent.sync());
    failpoint('suspend.after-sync');
    if (attempt.cancelled) throw new SuspendCancelled();
    await vm.qmp.execute('stop', {});
    failpoint('suspend.after-stop');
    try {
      await saveState(vm.qmp, files.migrationSocket, files.vmstatePartial, MIGRATION_TIMEOUT_MS);
      if (attempt.cancelled) throw new SuspendCancelled();
      // Whole: a restarted hangar may record it even if QEMU is gone.
      await rename(files.vmstatePartial, files.vmstateSaved);
      failpoint('suspend.after-save');
    } catch (error) {
      await rm(files.vmstatePartial, { force: true });
      await rm(files.vmstateSaved, { force: true });
      await continueVm(vm);
      await vm.agent.setTime(Date.now()).catch(() => undefined);
      throw error;
    }
    markEnded(vm);
    await quitVm(vm, 5000);
    if (!(await waitGone(vm.pid, 5000))) killQemu(vm.pid);
    failpoint('suspend.after-quit');
    await host.end(machineId, { suspended: true });
    const facts = await host.hostFacts();
    const { identity, launchId, sharedMemory } = vm.launched;
    const info = await commitSnapshot(files, { identity, launchId, bootId: facts.bootId, sharedMemory });
    void writeOutSnapshot(files, info.id, host.keepMemoryMs).done.catch((error: unknown) => host.options.onError?.(machineId, 'snapshot write-out', error));
    // For as long as the RAM stays in memory, a QEMU waits for the resume.
    if (sharedMemory && vm.layout) host.startStandby(machineId, files, vm.layout);
  } catch (error) {
    runOn();
    if (!hasEnded(vm) && isQemu(vm.pid)) {
      // The VM must either run or be ended: QEMU says which it is.
      const check = await host.inspect(machineId);
      if (check.running) throw error;
      await host.kill(machineId);
      await removeSnapshot(files);
      throw new Error(`${reasonOf(error)}; the VM could not go on (${check.vmm.reason}) and was ended`);
    }
    markEnded(vm);
    await host.kill(machineId);
    await removeSnapshot(files);
    throw new Error(`the VM ended while it was being suspended: ${reasonOf(error)}`);
  } finally {
    runOn();
  }
}

/** Asks the machine's suspend under way, if any, to give up at its next step and leave the VM running. */
export function cancelSuspend(host: VmHost, machineId: string): void {
  const phase = host.vm(machineId)?.phase;
  if (phase?.is === 'suspending') phase.cancelled = true;
}
