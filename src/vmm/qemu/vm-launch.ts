/**
 * Launching a machine's VM: a cold boot from its image, or a resume from its
 * suspend snapshot. Either checks with QEMU that the VM runs at the end, and on
 * failure leaves nothing of the launch behind (no QEMU, TAP or RAM file).
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { run } from '../../commands/run.ts';
import { machineInitramfs } from '../../guest/init-config.ts';
import { carriedFiles } from '../../guest/sandbox-agent.ts';
import { failpoint } from '../../system/failpoints.ts';
import { growFilesystem } from '../../volumes/local-volumes.ts';
import { type MachineSpec, ResumeRefused } from '../driver.ts';
import { qemuArgv } from './argv.ts';
import { machineInitConfig, type PreparedImage } from './boot-config.ts';
import { keepsRootfs, type MachineFiles, type OverlayOwner, overlayArgv } from './machine-files.ts';
import { checkMemoryRoom, reserveMemory } from './memory-file.ts';
import { ignoreSharedMemory, loadState, MIGRATION_TIMEOUT_MS } from './migration.ts';
import { launchDone, reasonOf, type Vm, vmStatus } from './running-vm.ts';
import { copyBackMemory, memorySource, readSnapshot, releaseMemory, removeSnapshot, sizeOf, snapshotFacts, snapshotProblem } from './snapshot.ts';
import { forkIdentity, guestLink } from './fork.ts';
import type { VmHost } from './vm-host.ts';
import type { Plan } from './vm-plan.ts';
import { logTail, startQemu } from './vm-process.ts';

function memoryBytes(spec: MachineSpec): number {
  return spec.config.guest.memory_mb * (1 << 20);
}

/** Boots the machine from its image; on any failure, nothing of the boot is left. */
export async function coldBoot(host: VmHost, spec: MachineSpec, files: MachineFiles, prepared: PreparedImage, plan: Plan): Promise<number> {
  const id = spec.machineId;
  // No other QEMU of this machine may run (a crash of hangar mid-launch can leave one).
  await host.kill(id, { keepFiles: true });
  // Any cold boot invalidates the snapshot: a machine never goes back in time.
  await removeSnapshot(files);
  await releaseMemory(files);
  try {
    // The RAM files first: a start that cannot have its memory's room makes nothing else.
    if (plan.launched.sharedMemory) {
      await reserveMemory(files.memory, memoryBytes(spec));
      await checkMemoryRoom(files.liveMemory, memoryBytes(spec));
    }
    const owner = { version: spec.version, digest: prepared.imageRef.digest };
    const previous = await readFile(files.overlayOf, 'utf8').then((text) => JSON.parse(text) as OverlayOwner, () => undefined);
    if (!existsSync(files.overlay) || !keepsRootfs(spec.config.rootfs?.persist ?? 'never', previous, owner)) {
      // A cold boot starts from a blank copy of the image, as Fly's machines do.
      await rm(files.overlay, { force: true });
      await run('qemu-img', overlayArgv(prepared.rootfsPath, files.overlay));
    }
    await writeFile(files.overlayOf, JSON.stringify(owner));
    const initConfig = machineInitConfig(spec, prepared, plan.mounts, host.options.network?.guestAddresses(spec));
    // It holds the machine's env, secrets too: readable by root alone.
    await rm(files.initrd, { force: true });
    await writeFile(files.initrd, Buffer.concat([host.baseInitramfs(), machineInitramfs(initConfig, carriedFiles(initConfig, () => host.sandboxAgent()))]), { mode: 0o600 });
    await rm(files.agentSocket, { force: true });
    await rm(files.qmpSocket, { force: true });
    // Before QEMU starts, so that a restarted hangar always knows what it runs.
    await writeFile(files.launched, JSON.stringify(plan.launched));
    await host.setUpTap(spec);
    for (const mount of plan.mounts) await growFilesystem(mount.file);
  } catch (error) {
    await host.end(id);
    throw error;
  }
  let pid: number;
  try {
    pid = await startQemu(qemuArgv(plan.layout), host.options.network?.netns, files.pidFile, files.qemuLog);
  } catch (error) {
    await host.end(id);
    throw error;
  }
  failpoint('boot.after-qemu-start');
  let vm: Vm | undefined;
  try {
    vm = await host.attach(spec, pid, files, plan.launched);
    vm.phase = { is: 'launching' };
    vm.layout = plan.layout;
    // Set now, so that a suspend has one step less to take.
    if (plan.launched.sharedMemory) await ignoreSharedMemory(vm.qmp);
    const agent = vm.agent;
    const outcome = await new Promise<{ started?: number; failed?: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ failed: 'the machine did not start in time' }), host.options.bootTimeoutMs ?? 120_000);
      agent.once('started', (guestPid) => { clearTimeout(timer); resolve({ started: guestPid }); });
      agent.once('failed', (reason) => { clearTimeout(timer); resolve({ failed: reason }); });
      agent.once('exited', () => { clearTimeout(timer); resolve({ failed: 'the process exited during boot' }); });
      agent.once('close', () => { clearTimeout(timer); resolve({ failed: 'QEMU ended during boot' }); });
    });
    if (outcome.failed) throw new Error(outcome.failed);
    const status = await vmStatus(vm);
    if (!status.running) throw new Error(`the VM booted but QEMU reports it ${status.status}${vm.ioError ? ` (${vm.ioError})` : ''}`);
    launchDone(vm);
    return pid;
  } catch (error) {
    const log = await logTail(files.qemuLog, 5);
    await host.kill(id);
    throw new Error(`${reasonOf(error)}${log.length ? ` (QEMU: ${log.join('; ')})` : ''}`);
  }
}

/**
 * Continues the machine from its snapshot, or says why it cannot. The snapshot
 * is consumed before QEMU reads it: whatever happens, it is never used twice.
 * Throws ResumeRefused, keeping the snapshot, when the RAM's disk space is not there.
 */
export async function resumeVm(host: VmHost, spec: MachineSpec, files: MachineFiles, plan: Plan): Promise<{ pid: number } | { problem: string }> {
  const info = await readSnapshot(files);
  if (!info) {
    return { problem: existsSync(files.vmstate) ? 'the machine\'s snapshot was never recorded whole' : 'the machine has no snapshot' };
  }
  const facts = await host.hostFacts();
  const found = await snapshotFacts(files, plan.launched.identity, facts.bootId);
  const problem = snapshotProblem(info, found);
  if (problem) {
    await removeSnapshot(files);
    return { problem };
  }
  if (info.sharedMemory) {
    try {
      await reserveMemory(files.memory, memoryBytes(spec));
      if (memorySource(info, found) === 'disk') await checkMemoryRoom(files.liveMemory, memoryBytes(spec));
    } catch (error) {
      throw new ResumeRefused(`cannot resume: ${reasonOf(error)}; the snapshot is kept`);
    }
  }
  // A fork's child maps its parent's frozen RAM private: its RAM is in no file of its own.
  const forked = info.forked === true;
  const launched = forked ? { ...plan.launched, sharedMemory: false } : plan.launched;
  const layout = forked ? { ...plan.layout, memoryFile: files.forkMemory, memoryPrivate: true } : plan.layout;
  const argv = qemuArgv({ ...layout, incoming: true });
  // A QEMU started for this resume right after the suspend, if one waits (standby.ts).
  let standby = await host.takeStandby(spec.machineId, argv);
  await host.kill(spec.machineId, { keepFiles: true, except: standby });
  await rm(files.snapshot, { force: true });
  await rm(files.snapshotFlushed, { force: true });
  failpoint('resume.after-consume');
  // Consumed first: from here on no write-out lets go of the RAM in memory. If it
  // did just before, the RAM was written out whole, and comes back from the disk
  // (into a new file: a standby mapped the one that went, so it goes too).
  if (info.sharedMemory && (await sizeOf(files.liveMemory)) !== info.memoryBytes) {
    try {
      if (standby !== undefined) await host.kill(spec.machineId, { keepFiles: true });
      standby = undefined;
      await copyBackMemory(files, info);
    } catch (error) {
      await removeSnapshot(files);
      return { problem: `the snapshot's memory could not be read back from the disk: ${reasonOf(error)}` };
    }
  }
  if (standby === undefined) {
    await rm(files.agentSocket, { force: true });
    await rm(files.qmpSocket, { force: true });
  }
  await writeFile(files.launched, JSON.stringify(launched));
  let step = 'starting QEMU';
  let vm: Vm | undefined;
  try {
    if (forked) await host.setUpTap(spec);
    // The TAP outlives a suspend here, and the readying of a moved machine's resume made one (vm-parcel.ts);
    // a machine moved here without it has none yet.
    else await host.keepTap(spec);
    // Should it be gone all the same, it is made again.
    const pid = standby ?? await startQemu(argv, host.options.network?.netns, files.pidFile, files.qemuLog).catch(async () => {
      await host.setUpTap(spec);
      return startQemu(argv, host.options.network?.netns, files.pidFile, files.qemuLog);
    });
    failpoint('resume.after-qemu-start');
    step = 'connecting to QEMU';
    vm = await host.attach(spec, pid, files, launched);
    vm.phase = { is: 'launching' };
    vm.layout = layout;
    if (info.sharedMemory || forked) await ignoreSharedMemory(vm.qmp);
    step = 'loading the VM state';
    await loadState(vm.qmp, files.migrationSocket, files.vmstate, MIGRATION_TIMEOUT_MS);
    failpoint('resume.after-load');
    // What this QEMU's own saves (suspend, fork) do is what its RAM is now: a fork's child
    // streams its RAM (none of it is in a file of its own); a machine whose RAM was streamed
    // in (a fork's child suspended) now has it in its memory file, and leaves it out.
    if ((info.sharedMemory || forked) !== launched.sharedMemory) await ignoreSharedMemory(vm.qmp, launched.sharedMemory);
    step = 'continuing the VM';
    await vm.qmp.execute('cont', {});
    const status = await vmStatus(vm);
    if (!status.running) throw new Error(`QEMU reports the VM ${status.status}${vm.ioError ? ` (${vm.ioError})` : ''}`);
    const link = guestLink(spec, host.options.network);
    // The addresses the guest has (found.net) are another host's if the machine was moved here.
    if (!forked && link && found.net && found.net.join(' ') !== link.addresses.join(' ')) {
      // Its 6PN address is kept, and the proxies reach it by that: the start does not wait for the guest to
      // take this host's IPv4 address. Until it has, it has no way out (outbound NAT), nothing worse.
      void vm.agent.renumber(link).catch((error: unknown) => host.options.onError?.(spec.machineId, 'taking this host\'s addresses after a move', error));
    }
    if (forked) {
      step = 'giving the fork its own identity';
      await vm.agent.becomeFork(forkIdentity(spec, host.options.network));
      // QEMU holds the mapping: the name goes, the pages stay while the child runs.
      await rm(files.forkMemory, { force: true });
    }
    launchDone(vm);
  } catch (error) {
    const log = await logTail(files.qemuLog, 5);
    await host.kill(spec.machineId);
    await removeSnapshot(files);
    return { problem: `QEMU could not resume the snapshot (${step}): ${reasonOf(error)}${log.length ? ` (QEMU: ${log.join('; ')})` : ''}` };
  }
  await rm(files.vmstate, { force: true });
  // The guest's clock stood still while it was suspended. The correction is the first
  // thing the guest hears after `cont`; the start does not wait for the answer, which
  // comes only once the guest has warmed up again (under TCG, ~100 ms).
  void vm.agent.setTime(Date.now()).catch((error: unknown) => host.options.onError?.(spec.machineId, 'clock correction after resume', error));
  return { pid: vm.pid };
}
