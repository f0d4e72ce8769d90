/**
 * The `qemu` VMM driver: each machine is one QEMU `microvm` process booted from
 * its image's ext4 root filesystem (through a per-machine copy-on-write overlay),
 * with hangar-init as PID 1 reached over virtio-serial. QEMU runs detached, so
 * VMs outlive a crash of hangar; `recover` finds them again by pid file.
 *
 * Suspend saves the devices' state next to the guest's RAM file (snapshot.ts) and
 * ends QEMU; a start resumes a new QEMU from it when the snapshot may be trusted,
 * and boots cold otherwise.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { errorMessage } from '../../domain/errors.ts';
import type { ImageRef } from '../../domain/image-ref.ts';
import { signalNumber, type SignalName } from '../../domain/signals.ts';
import { machineInitramfs } from '../../guest/init-config.ts';
import { baseInitramfs, type GuestAssets } from '../../guest/initramfs.ts';
import type { ImageStore } from '../../image/image-store.ts';
import type { MachineNetwork } from '../../network/keeper.ts';
import type {
  ExecRequest, ExecResult, ExitInfo, GuestApiListener, LaunchResult, LogOptions, MachineSpec, MemoryInfo, ProcessInfo, PullProgress, RecoveredVm, VmmDriver,
} from '../driver.ts';
import { followFile } from '../log-file.ts';
import { AgentChannel, type GuestExit } from './agent-channel.ts';
import { type Accelerator, qemuArgv } from './argv.ts';
import { machineInitConfig, type PreparedImage } from './boot-config.ts';
import { bridgeGuestApi } from './guest-api-bridge.ts';
import { type HostFacts, readHostFacts } from './host-facts.ts';
import { keepsRootfs, machineFiles, type MachineFiles, type OverlayOwner, overlayArgv } from './machine-files.ts';
import { ignoreSharedMemory, loadState, saveState } from './migration.ts';
import { QmpClient } from './qmp.ts';
import {
  commitSnapshot, flushSnapshot, readSnapshot, removeSnapshot, snapshotFacts, snapshotProblem,
} from './snapshot.ts';
import { growFilesystem } from '../../volumes/local-volumes.ts';
import { type Launched, type Plan, planLaunch } from './vm-plan.ts';
import { isQemu, killQemu, readPid, startQemu, waitGone } from './vm-process.ts';

const run = promisify(execFile);

/** Saving or loading a VM state with shared RAM takes milliseconds; without, RAM goes through the stream too. */
const MIGRATION_TIMEOUT_MS = 120_000;

export interface QemuDriverOptions {
  machinesDir: string;
  images: ImageStore;
  assets: GuestAssets;
  accel: Accelerator;
  /** Host TSC rate, passed to TCG guests (see argv.ts). */
  tscKhz?: number;
  /** The machines' network (namespace, TAPs, routes); none leaves machines without a network. */
  network?: MachineNetwork;
  bootTimeoutMs?: number;
  /** Where a volume's ext4 file is. */
  volumePath?: (volumeId: string) => string;
  /** Machines up to this size get their RAM in a shared file, which makes suspend fast (Fly: 2048). */
  suspendMaxMemoryMb?: number;
  /** Where background failures (a snapshot flush) are reported. */
  onError?: (machineId: string, what: string, error: unknown) => void;
}

/** A running machine: its QEMU process and the two channels into it. */
interface Vm {
  pid: number;
  agent: AgentChannel;
  qmp: QmpClient;
  launched: Launched;
  /** Set while hangar itself is stopping the machine: the exit goes to the stopper. */
  stopping?: (exit: GuestExit | null) => void;
  /** Set while a suspend runs: QEMU ending is the suspend's outcome, not an exit. */
  suspending?: { cancelled: boolean };
  ended: boolean;
}

export class SuspendCancelled extends Error {
  constructor() {
    super('suspend cancelled by a start');
  }
}

export class QemuDriver implements VmmDriver {
  readonly name = 'qemu';
  private readonly options: QemuDriverOptions;
  private readonly vms = new Map<string, Vm>();
  private readonly listeners: Array<(machineId: string, exit: ExitInfo) => void> = [];
  private base: Buffer | undefined;
  private guestApi: GuestApiListener | undefined;
  private facts: Promise<HostFacts> | undefined;
  private recovered = false;

  constructor(options: QemuDriverOptions) {
    this.options = options;
  }

  private files(machineId: string): MachineFiles {
    return machineFiles(this.options.machinesDir, machineId);
  }

  private hostFacts(): Promise<HostFacts> {
    this.facts ??= readHostFacts([this.options.assets.kernel, this.options.assets.init]);
    return this.facts;
  }

  async pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef> {
    return (await this.options.images.prepare(reference, onProgress)).imageRef;
  }

  async prepare(spec: MachineSpec): Promise<{ imageRef: ImageRef }> {
    const image = await this.options.images.prepare(spec.config.image);
    const files = this.files(spec.machineId);
    await mkdir(files.dir, { recursive: true });
    const prepared: PreparedImage = { version: spec.version, rootfsPath: image.rootfsPath, imageRef: image.imageRef, config: image.config };
    await writeFile(files.prepared, JSON.stringify(prepared));
    return { imageRef: image.imageRef };
  }

  async launch(spec: MachineSpec, options: { resume: boolean }): Promise<LaunchResult> {
    const current = this.vms.get(spec.machineId);
    // A start cancelled the suspend before it finished: the VM never stopped running.
    if (options.resume && current && !current.ended) return { resumed: true, pid: current.pid, suspendCancelled: true };
    const files = this.files(spec.machineId);
    let prepared = await this.readPrepared(files);
    if (prepared?.version !== spec.version) {
      await this.prepare(spec);
      prepared = await this.readPrepared(files);
    }
    if (!prepared) throw new Error('image not prepared');
    const { accel, tscKhz, network, suspendMaxMemoryMb, volumePath } = this.options;
    const settings = { accel, tscKhz, netns: network?.netns, suspendMaxMemoryMb, volumePath, kernelPath: this.options.assets.kernel };
    const plan = planLaunch(spec, files, prepared, settings, await this.hostFacts());
    let coldBootReason: string | undefined;
    if (options.resume) {
      const resumed = await this.resume(spec, files, plan);
      if ('pid' in resumed) return { resumed: true, pid: resumed.pid };
      coldBootReason = resumed.problem;
    }
    const pid = await this.coldBoot(spec, files, prepared, plan);
    return coldBootReason ? { resumed: false, pid, coldBootReason } : { resumed: false, pid };
  }

  private async coldBoot(spec: MachineSpec, files: MachineFiles, prepared: PreparedImage, plan: Plan): Promise<number> {
    // Any cold boot invalidates the snapshot: a machine never goes back in time.
    await removeSnapshot(files);
    await rm(files.memory, { force: true });
    const owner = { version: spec.version, digest: prepared.imageRef.digest };
    const previous = await readFile(files.overlayOf, 'utf8').then((text) => JSON.parse(text) as OverlayOwner, () => undefined);
    if (!existsSync(files.overlay) || !keepsRootfs(spec.config.rootfs?.persist ?? 'never', previous, owner)) {
      // A cold boot starts from a blank copy of the image, as Fly's machines do.
      await rm(files.overlay, { force: true });
      await run('qemu-img', overlayArgv(prepared.rootfsPath, files.overlay));
    }
    await writeFile(files.overlayOf, JSON.stringify(owner));
    this.base ??= baseInitramfs(this.options.assets);
    const initConfig = machineInitConfig(spec, prepared, plan.mounts, this.options.network?.guestAddresses(spec.privateIp));
    await writeFile(files.initrd, Buffer.concat([this.base, machineInitramfs(initConfig)]));
    await rm(files.agentSocket, { force: true });
    await rm(files.qmpSocket, { force: true });
    await this.setUpTap(spec);
    for (const mount of plan.mounts) await growFilesystem(mount.file);
    const pid = await startQemu(qemuArgv(plan.layout), this.options.network?.netns, files.pidFile);
    const vm = await this.attach(spec, pid, files, plan.launched);
    await writeFile(files.launched, JSON.stringify(plan.launched));
    // Set now, so that a suspend has one step less to take.
    if (plan.launched.sharedMemory) await ignoreSharedMemory(vm.qmp);
    const outcome = await new Promise<{ started?: number; failed?: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ failed: 'the machine did not start in time' }), this.options.bootTimeoutMs ?? 120_000);
      vm.agent.once('started', (guestPid) => { clearTimeout(timer); resolve({ started: guestPid }); });
      vm.agent.once('failed', (reason) => { clearTimeout(timer); resolve({ failed: reason }); });
      vm.agent.once('exited', () => { clearTimeout(timer); resolve({ failed: 'the process exited during boot' }); });
    });
    if (outcome.failed) {
      await this.end(spec.machineId);
      throw new Error(outcome.failed);
    }
    return pid;
  }

  /**
   * Continues the machine from its snapshot, or says why it cannot. The snapshot
   * is consumed before QEMU reads it: whatever happens, it is never used twice.
   */
  private async resume(spec: MachineSpec, files: MachineFiles, plan: Plan): Promise<{ pid: number } | { problem: string }> {
    const info = await readSnapshot(files);
    if (!info) return { problem: 'the machine has no snapshot' };
    const facts = await this.hostFacts();
    const problem = snapshotProblem(info, await snapshotFacts(files, plan.launched.identity, facts.bootId));
    if (problem) {
      await removeSnapshot(files);
      return { problem };
    }
    await rm(files.snapshot, { force: true });
    await rm(files.snapshotFlushed, { force: true });
    await rm(files.agentSocket, { force: true });
    await rm(files.qmpSocket, { force: true });
    const argv = qemuArgv({ ...plan.layout, incoming: true });
    let vm: Vm | undefined;
    try {
      // The TAP outlives a suspend; should it be gone, it is made again.
      const pid = await startQemu(argv, this.options.network?.netns, files.pidFile).catch(async () => {
        await this.setUpTap(spec);
        return startQemu(argv, this.options.network?.netns, files.pidFile);
      });
      vm = await this.attach(spec, pid, files, plan.launched);
      if (info.sharedMemory) await ignoreSharedMemory(vm.qmp);
      await loadState(vm.qmp, files.migrationSocket, files.vmstate, MIGRATION_TIMEOUT_MS);
      await vm.qmp.execute('cont', {});
    } catch (error) {
      if (vm) vm.ended = true;
      killQemu(vm?.pid);
      await this.end(spec.machineId);
      await removeSnapshot(files);
      return { problem: `QEMU could not resume the snapshot: ${errorMessage(error)}` };
    }
    await rm(files.vmstate, { force: true });
    await writeFile(files.launched, JSON.stringify(plan.launched));
    // The guest's clock stood still while it was suspended. The correction is the first
    // thing the guest hears after `cont`; the start does not wait for the answer, which
    // comes only once the guest has warmed up again (under TCG, ~100 ms).
    void vm.agent.setTime(Date.now()).catch((error: unknown) => this.options.onError?.(spec.machineId, 'clock correction after resume', error));
    return { pid: vm.pid };
  }

  private async setUpTap(spec: MachineSpec): Promise<void> {
    await this.options.network?.attach({ machineId: spec.machineId, privateIp: spec.privateIp });
  }

  /** Connects to a running QEMU's sockets and follows its machine's exit. */
  private async attach(spec: Pick<MachineSpec, 'machineId' | 'appName'>, pid: number, files: MachineFiles, launched: Launched): Promise<Vm> {
    const machineId = spec.machineId;
    const qmp = await QmpClient.connect(files.qmpSocket);
    const agent = await AgentChannel.connect(files.agentSocket);
    const vm: Vm = { pid, agent, qmp, launched, ended: false };
    this.vms.set(machineId, vm);
    bridgeGuestApi(agent, { appName: spec.appName, machineId }, () => this.guestApi);
    agent.on('exited', (exit) => void this.onGuestExit(machineId, vm, exit));
    qmp.on('close', () => void this.onGuestExit(machineId, vm, null));
    return vm;
  }

  /** The process ended (or QEMU died: `exit` null): tell whoever waits, then clean up. */
  private async onGuestExit(machineId: string, vm: Vm, exit: GuestExit | null): Promise<void> {
    if (vm.ended || vm.suspending) return;
    vm.ended = true;
    await waitGone(vm.pid, 5000);
    killQemu(vm.pid);
    await this.end(machineId);
    if (vm.stopping) {
      vm.stopping(exit);
      return;
    }
    const info: ExitInfo = exit
      ? exitInfo(exit)
      : { exitCode: 255, oomKilled: false };
    for (const listener of this.listeners) listener(machineId, info);
  }

  /** Lets go of the machine's VM: channels, process, TAP and RAM file (all but what a snapshot needs). */
  private async end(machineId: string, options: { suspended?: boolean } = {}): Promise<void> {
    const vm = this.vms.get(machineId);
    this.vms.delete(machineId);
    vm?.agent.close();
    vm?.qmp.close();
    killQemu(vm?.pid);
    if (options.suspended) return;
    await rm(this.files(machineId).memory, { force: true });
    await this.options.network?.detach(machineId);
  }

  async stop(machineId: string, signal: SignalName, timeoutMs: number): Promise<ExitInfo | null> {
    const vm = this.vms.get(machineId);
    if (!vm || vm.ended) return null;
    const exited = new Promise<GuestExit | null>((resolve) => { vm.stopping = resolve; });
    try {
      await vm.agent.stop(signalNumber(signal), timeoutMs);
    } catch {
      killQemu(vm.pid);
    }
    const exit = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs + 15_000))]);
    if (!vm.ended) {
      killQemu(vm.pid);
      await exited;
    }
    return exit ? exitInfo(exit) : { exitCode: 137, oomKilled: false, signal: signalNumber('SIGKILL') };
  }

  /**
   * The guest flushes its disks, the VM pauses, its device state goes to a file
   * (RAM is already in one), and QEMU ends. If saving fails, or a start cancels
   * the suspend meanwhile, the VM carries on; if QEMU dies, the error says so.
   */
  async suspend(machineId: string): Promise<void> {
    const vm = this.running(machineId);
    const files = this.files(machineId);
    const attempt = { cancelled: false };
    vm.suspending = attempt;
    try {
      // Whatever the guest wrote reaches its disks, so they agree with the snapshot (and survive its loss).
      await vm.agent.sync();
      if (attempt.cancelled) throw new SuspendCancelled();
      await vm.qmp.execute('stop', {});
      try {
        await saveState(vm.qmp, files.migrationSocket, files.vmstatePartial, MIGRATION_TIMEOUT_MS);
        if (attempt.cancelled) throw new SuspendCancelled();
      } catch (error) {
        await rm(files.vmstatePartial, { force: true });
        await vm.qmp.execute('cont', {});
        await vm.agent.setTime(Date.now()).catch(() => undefined);
        throw error;
      }
      vm.ended = true;
      await vm.qmp.execute('quit', {}).catch(() => undefined);
      if (!(await waitGone(vm.pid, 5000))) killQemu(vm.pid);
      await this.end(machineId, { suspended: true });
      const facts = await this.hostFacts();
      const { identity, launchId, sharedMemory } = vm.launched;
      const info = await commitSnapshot(files, { identity, launchId, bootId: facts.bootId, sharedMemory });
      void flushSnapshot(files, info.id).catch((error: unknown) => this.options.onError?.(machineId, 'snapshot flush', error));
    } catch (error) {
      if (!isQemu(vm.pid) || vm.ended) {
        vm.ended = true;
        await this.end(machineId);
        await removeSnapshot(files);
        throw new Error(`the VM ended while it was being suspended: ${errorMessage(error)}`);
      }
      throw error;
    } finally {
      vm.suspending = undefined;
    }
  }

  cancelSuspend(machineId: string): void {
    const attempt = this.vms.get(machineId)?.suspending;
    if (attempt) attempt.cancelled = true;
  }

  async discardSnapshot(machineId: string): Promise<void> {
    const files = this.files(machineId);
    await removeSnapshot(files);
    if (!this.vms.has(machineId)) await this.end(machineId);
  }

  async destroy(machineId: string): Promise<void> {
    const files = this.files(machineId);
    const vm = this.vms.get(machineId);
    if (vm) vm.ended = true;
    killQemu(vm?.pid ?? readPid(files.pidFile), files.pidFile);
    await this.end(machineId);
    await rm(files.dir, { recursive: true, force: true });
  }

  private running(machineId: string): Vm {
    const vm = this.vms.get(machineId);
    if (!vm || vm.ended) throw new Error(`machine ${machineId} is not running`);
    return vm;
  }

  async signal(machineId: string, signal: SignalName): Promise<void> {
    await this.running(machineId).agent.signal(signalNumber(signal));
  }

  async exec(machineId: string, request: ExecRequest): Promise<ExecResult> {
    const result = await this.running(machineId).agent.exec(request.command, { stdin: request.stdin, timeoutMs: request.timeoutMs });
    return { stdout: result.stdout, stderr: result.stderr, exit_code: result.exitCode, exit_signal: result.signal };
  }

  async ps(machineId: string): Promise<ProcessInfo[]> {
    const processes = await this.running(machineId).agent.ps();
    return processes.map((p) => ({
      pid: p.pid, command: p.command, cpu: 0, rss: p.rssKb * 1024, rtime: p.utimeMs, stime: p.stimeMs, directory: p.cwd, listen_sockets: [],
    }));
  }

  async memory(machineId: string): Promise<MemoryInfo> {
    const { actual } = await this.running(machineId).qmp.execute('query-balloon', {});
    const limit = Math.round(actual / (1 << 20));
    return { limit_mb: limit, available_mb: limit };
  }

  async setMemoryLimit(machineId: string, limitMb: number): Promise<MemoryInfo> {
    await this.running(machineId).qmp.execute('balloon', { value: limitMb * (1 << 20) });
    return this.memory(machineId);
  }

  async reclaimMemory(machineId: string, amountMb: number): Promise<number> {
    const before = await this.memory(machineId);
    const after = await this.setMemoryLimit(machineId, Math.max(128, before.limit_mb - amountMb));
    return before.limit_mb - after.limit_mb;
  }

  logs(machineId: string, options: LogOptions): AsyncIterable<string> {
    return followFile(this.files(machineId).consoleLog, options);
  }

  onGuestApi(listener: GuestApiListener): void {
    this.guestApi = listener;
  }

  onExit(listener: (machineId: string, exit: ExitInfo) => void): void {
    this.listeners.push(listener);
  }

  async recover(specs: MachineSpec[]): Promise<Map<string, RecoveredVm>> {
    const found = new Map<string, RecoveredVm>();
    for (const spec of specs) {
      const files = this.files(spec.machineId);
      const pid = readPid(files.pidFile);
      if (this.vms.has(spec.machineId)) {
        found.set(spec.machineId, 'running');
      } else if (isQemu(pid, files.pidFile) && existsSync(files.agentSocket)) {
        try {
          const launched = JSON.parse(await readFile(files.launched, 'utf8')) as Launched;
          await this.attach(spec, pid as number, files, launched);
          found.set(spec.machineId, 'running');
        } catch {
          found.set(spec.machineId, 'absent');
        }
      } else if (await readSnapshot(files)) {
        found.set(spec.machineId, 'suspended');
      } else {
        found.set(spec.machineId, 'absent');
      }
    }
    // The first call is the start's, with every live machine: the network learns which links must exist.
    if (!this.recovered) {
      this.recovered = true;
      const live = specs.filter((spec) => found.get(spec.machineId) !== 'absent');
      await this.options.network?.adopt(live.map((spec) => ({ machineId: spec.machineId, privateIp: spec.privateIp })));
    }
    return found;
  }

  /** Lets go of the VMs without stopping them: they keep running for the next hangar. */
  async close(): Promise<void> {
    this.options.network?.close();
    for (const vm of this.vms.values()) {
      vm.ended = true;
      vm.agent.close();
      vm.qmp.close();
    }
    this.vms.clear();
  }

  private async readPrepared(files: MachineFiles): Promise<PreparedImage | undefined> {
    try {
      return JSON.parse(await readFile(files.prepared, 'utf8')) as PreparedImage;
    } catch {
      return undefined;
    }
  }
}

function exitInfo(exit: GuestExit): ExitInfo {
  return exit.signal > 0 ? { exitCode: exit.exitCode, oomKilled: exit.oomKilled, signal: exit.signal } : { exitCode: exit.exitCode, oomKilled: exit.oomKilled };
}
