/**
 * After a restart of hangar: what became of one machine's VM, asked of QEMU and of
 * the files a launch or a suspend leaves at each step, settled as found-vm.ts
 * says (a paused VM continued, a state saved whole recorded, a VM that never
 * loaded its state ended) and reported to the control plane as a RecoveredVm.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { MachineSpec, RecoveredVm } from '../driver.ts';
import { foundVmAction } from './found-vm.ts';
import type { MachineFiles } from './machine-files.ts';
import { continueVm, markEnded, quitVm, reasonOf, type Vm, vmStatus } from './running-vm.ts';
import { commitSnapshot, isFlushed, letGoOfMemory, readSnapshot, releaseMemory, removeSnapshot } from './snapshot.ts';
import { endFoundStandbys } from './standby.ts';
import type { VmHost } from './vm-host.ts';
import type { Launched } from './vm-plan.ts';
import { writeOutSnapshot } from './write-out.ts';
import { isIncoming, killQemu, qemuPids, qemusUnder, readPid, waitGone } from './vm-process.ts';

export async function recoverMachine(host: VmHost, spec: MachineSpec): Promise<RecoveredVm> {
  const files = host.files(spec.machineId);
  const found = qemuPids(files.pidFile, { scan: true });
  // A standby waiting for the snapshot's state is no resume: it goes, the snapshot stays.
  const standbys = await endFoundStandbys(files, found);
  const pids = found.filter((pid) => !standbys.includes(pid));
  const named = readPid(files.pidFile);
  const main = pids.includes(named as number) ? named as number : pids[0];
  // Two QEMUs of one machine: an overlapping launch cut short. The pid file's is the one that counts.
  for (const pid of pids) if (pid !== main) killQemu(pid, files.pidFile);
  if (main === undefined) return recoverFromFiles(host, files);
  let vm: Vm;
  try {
    const launched = JSON.parse(await readFile(files.launched, 'utf8')) as Launched;
    vm = await host.attach(spec, main, files, launched);
  } catch (error) {
    await host.kill(spec.machineId, { scan: true });
    await removeSnapshot(files);
    return { vm: 'absent', detail: `QEMU (pid ${main}) was running but hangar could not take hold of it (${reasonOf(error)}): it was ended` };
  }
  const incoming = isIncoming(main);
  let action;
  try {
    const status = await vmStatus(vm);
    action = foundVmAction({ ...status, incoming, stateSaved: existsSync(files.vmstateSaved) });
  } catch (error) {
    action = { do: 'end' as const, why: `QEMU (pid ${main}) did not say what its VM is (${reasonOf(error)}): it was ended` };
  }
  const version = vm.launched.identity.version;
  switch (action.do) {
    case 'keep':
      await settleRunning(files, vm, incoming);
      return { vm: 'running', resumed: incoming, version };
    case 'continue':
      try {
        await continueVm(vm);
      } catch (error) {
        await host.kill(spec.machineId);
        await removeSnapshot(files);
        return { vm: 'absent', detail: `the VM was paused and could not be continued (${reasonOf(error)}): it was ended` };
      }
      await settleRunning(files, vm, incoming);
      // Its clock stood still while it was paused.
      void vm.agent.setTime(Date.now()).catch(() => undefined);
      return { vm: 'running', resumed: incoming, version, detail: action.why };
    case 'commit':
      markEnded(vm);
      await quitVm(vm, 5000);
      if (!(await waitGone(vm.pid, 5000))) killQemu(vm.pid);
      await host.end(spec.machineId, { suspended: true });
      await recordSnapshot(host, files, vm.launched);
      return { vm: 'suspended', detail: action.why };
    case 'end':
      await host.kill(spec.machineId);
      // A resume that never loaded its state consumed the snapshot: what is left of it goes.
      await removeSnapshot(files);
      return { vm: 'absent', detail: action.why };
  }
}

/** No QEMU: a snapshot, a suspend's whole saved state to record, or what a resume cut short left. */
async function recoverFromFiles(host: VmHost, files: MachineFiles): Promise<RecoveredVm> {
  await rm(files.vmstatePartial, { force: true });
  if (existsSync(files.vmstateSaved)) {
    const launched = await readFile(files.launched, 'utf8').then((text) => JSON.parse(text) as Launched, () => undefined);
    if (launched) {
      await recordSnapshot(host, files, launched);
      return { vm: 'suspended', detail: 'hangar stopped during a suspend, after the VM state was saved and QEMU ended: the snapshot was recorded' };
    }
  }
  const snapshot = await readSnapshot(files);
  if (snapshot) {
    // hangar stopped before the snapshot's RAM was written out: it is written out now.
    const keepMs = host.keepMemoryMs;
    if (!isFlushed(files, snapshot.id)) void writeOutSnapshot(files, snapshot.id, keepMs).done.catch(() => undefined);
    else letGoOfMemory(files, snapshot.id, keepMs);
    return { vm: 'suspended' };
  }
  const consumed = existsSync(files.vmstate);
  await removeSnapshot(files);
  // The RAM files of a VM that is gone hold nothing anyone will use: their memory and disk space go back.
  await releaseMemory(files);
  if (consumed) return { vm: 'absent', detail: 'hangar stopped during a resume, before QEMU had loaded the VM state: the snapshot was discarded' };
  return { vm: 'absent' };
}

/** A running VM keeps no snapshot; one that came from a resume gets a launch of its own. */
async function settleRunning(files: MachineFiles, vm: Vm, incoming: boolean): Promise<void> {
  await rm(files.vmstatePartial, { force: true });
  await rm(files.vmstateSaved, { force: true });
  if (!incoming) return;
  await removeSnapshot(files);
  vm.launched = { ...vm.launched, launchId: randomUUID() };
  await writeFile(files.launched, JSON.stringify(vm.launched));
}

async function recordSnapshot(host: VmHost, files: MachineFiles, launched: Launched): Promise<void> {
  const { identity, launchId, sharedMemory } = launched;
  const info = await commitSnapshot(files, { identity, launchId, bootId: (await host.hostFacts()).bootId, sharedMemory });
  void writeOutSnapshot(files, info.id, host.keepMemoryMs).done.catch(() => undefined);
}

/** Ends every QEMU whose machine directory under `machinesDir` is gone: nothing is behind it. */
export async function sweepOrphans(machinesDir: string): Promise<Array<{ machineId: string; pid: number }>> {
  const swept: Array<{ machineId: string; pid: number }> = [];
  for (const { pid, pidFile } of qemusUnder(machinesDir)) {
    if (existsSync(dirname(pidFile))) continue;
    killQemu(pid, pidFile);
    await waitGone(pid, 5000);
    swept.push({ machineId: basename(dirname(pidFile)), pid });
  }
  return swept;
}
