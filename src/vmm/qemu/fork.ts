/**
 * Forking a running machine: its VM pauses for a save (device state, a copy of its
 * RAM, a copy of its root filesystem's overlay) and runs on; each child gets a
 * snapshot of it to resume from, as a suspended machine would.
 *
 * The children share one frozen copy of the parent's RAM, each mapping it private:
 * a page is copied only when a child writes it, so idle children cost little. The
 * copy lives in a ramfs (fork-memory.ts), one hard link per child, each removed once
 * its child's QEMU has mapped it; the pages go when the last child does.
 *
 * The guest's processes are frozen (SIGSTOP) before the save, so a child's code
 * runs again only after hangar-init has made it a machine of its own: its host
 * name, address and MAC, a new boot_id, and a kernel RNG reseeded from the host.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { run } from '../../commands/run.ts';
import type { MachineNetwork } from '../../network/keeper.ts';
import { guestMac } from '../../network/plan.ts';
import type { MachineSpec } from '../driver.ts';
import type { ForkIdentity } from './agent-channel.ts';
import { guestNet, type PreparedImage } from './boot-config.ts';
import { ensureForkMemoryDir } from './fork-memory.ts';
import { forkMemoryDir, type MachineFiles } from './machine-files.ts';
import { saveState } from './migration.ts';
import { continueVm, reasonOf, unlessIoError, type Vm } from './running-vm.ts';
import { commitSnapshot } from './snapshot.ts';
import type { VmHost } from './vm-host.ts';

const SAVE_TIMEOUT_MS = 120_000;

/**
 * Gives each child a snapshot of the running parent to resume from; the parent
 * runs on. On failure the parent runs on too (or the error says it could not),
 * and nothing of the children is left.
 */
export async function forkVm(host: VmHost, parentId: string, children: MachineSpec[]): Promise<void> {
  const vm = host.running(parentId);
  if (!vm.launched.sharedMemory) throw new Error(`machine ${parentId} keeps its RAM out of a file (it may not be suspended), so it cannot be forked`);
  if (vm.phase.is === 'suspending') throw new Error(`machine ${parentId} is being suspended`);
  const parent = host.files(parentId);
  const prepared = await host.readPrepared(parent);
  if (!prepared) throw new Error(`machine ${parentId} has no prepared image`);
  const first = children[0];
  if (!first) return;
  await ensureForkMemoryDir(forkMemoryDir(host.memoryDir));
  const childFiles = children.map((child) => host.files(child.machineId));
  try {
    for (const files of childFiles) await mkdir(files.dir, { recursive: true });
    const frozen = childFiles[0]!;
    await pauseAndSave(vm, parent, frozen, childFiles);
    for (const files of childFiles.slice(1)) {
      await link(frozen.vmstateSaved, files.vmstateSaved);
      await link(frozen.forkMemory, files.forkMemory);
    }
    for (const [index, child] of children.entries()) await giveSnapshot(host, child, childFiles[index]!, prepared);
  } catch (error) {
    for (const files of childFiles) await rm(files.dir, { recursive: true, force: true }).then(() => rm(files.forkMemory, { force: true }));
    throw error;
  }
}

/**
 * The parent's processes freeze, its disks are flushed, its VM pauses and its
 * state is saved with a copy of its RAM and root overlay; then it runs on.
 */
async function pauseAndSave(vm: Vm, parent: MachineFiles, frozen: MachineFiles, children: MachineFiles[]): Promise<void> {
  await unlessIoError(vm, 'while it flushed its disks', vm.agent.sync());
  await vm.agent.freeze();
  let failure: unknown;
  try {
    await vm.qmp.execute('stop', {});
    await saveState(vm.qmp, parent.migrationSocket, frozen.vmstateSaved, SAVE_TIMEOUT_MS);
    // Paused, with its disks flushed and inactive: the files hold exactly what the saved state expects.
    await run('cp', ['--sparse=always', '--', parent.liveMemory, frozen.forkMemory]);
    for (const files of children) await run('cp', ['--sparse=always', '--', parent.overlay, files.overlay]);
  } catch (error) {
    failure = error;
  }
  try {
    await continueVm(vm);
    await vm.agent.thaw();
    // The guest's clock stood still while it was paused.
    await vm.agent.setTime(Date.now()).catch(() => undefined);
  } catch (error) {
    throw new Error(`${failure ? `${reasonOf(failure)}; then ` : ''}the machine did not run on after the fork's save: ${reasonOf(error)}`);
  }
  if (failure) throw failure;
}

/** The child's own files around the saved state and RAM: image, overlay's owner, launch and snapshot (no initramfs: it is written at a cold boot). */
async function giveSnapshot(host: VmHost, child: MachineSpec, files: MachineFiles, parentPrepared: PreparedImage): Promise<void> {
  const prepared: PreparedImage = { ...parentPrepared, version: child.version };
  await writeFile(files.prepared, JSON.stringify(prepared));
  await writeFile(files.overlayOf, JSON.stringify({ version: child.version, digest: prepared.imageRef.digest }));
  const plan = await host.plan(child, files, prepared);
  const launched = { ...plan.launched, sharedMemory: false };
  await writeFile(files.launched, JSON.stringify(launched));
  await commitSnapshot(files, { identity: launched.identity, launchId: launched.launchId, bootId: (await host.hostFacts()).bootId, sharedMemory: false, forked: true });
}

/** What a child becomes once it runs: its own host name, boot, randomness and address. */
export function forkIdentity(spec: MachineSpec, network: MachineNetwork | undefined): ForkIdentity {
  const net = guestLink(spec, network);
  return { hostname: spec.machineId, bootId: randomUUID(), entropy: randomBytes(64), ...(net ? { net } : {}) };
}

/** The guest's interface and addresses on this host, as hangar-init's `forked` and `renumber` take them. */
export function guestLink(spec: MachineSpec, network: MachineNetwork | undefined): ForkIdentity['net'] {
  const net = guestNet(spec, network?.guestAddresses(spec));
  return net ? { ifname: net.ifname, mac: guestMac(spec.machineId), addresses: [net.ipv6 ?? '-', net.gateway6 ?? '-', net.ipv4 ?? '-', net.gateway4 ?? '-'] } : undefined;
}
