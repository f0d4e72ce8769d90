/**
 * The `qemu` VMM driver: each machine is one QEMU `microvm` process booted from
 * its image's ext4 root filesystem (through a per-machine copy-on-write overlay),
 * with hangar-init as PID 1 reached over virtio-serial. QEMU runs detached, so
 * VMs outlive a crash of hangar; `recover` finds them again (qemu-recovery.ts).
 *
 * Suspend saves the devices' state next to the guest's RAM file (snapshot.ts) and
 * ends QEMU; a start resumes a new QEMU from it when the snapshot may be trusted,
 * and boots cold otherwise. Every step that could leave a VM paused checks with
 * QEMU (query-status) that the VM runs, or ends it: a VM is never left frozen.
 */
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { MIN_MEMORY_LIMIT_MB } from '../../domain/guest-ops.ts';
import type { ImageRef } from '../../domain/image-ref.ts';
import { signalNumber, type SignalName } from '../../domain/signals.ts';
import { baseInitramfs, type GuestAssets } from '../../guest/initramfs.ts';
import type { ImageStore } from '../../image/image-store.ts';
import type { MachineLink, MachineNetwork } from '../../network/keeper.ts';
import { failpoint } from '../../system/failpoints.ts';
import type {
  ExecRequest, ExecResult, ExitInfo, GuestApiListener, LaunchResult, LogRequest, MachineSpec, MemoryInfo,
  ProcessInfo, PullProgress, RecoveredVm, VmCheck, VmmDriver, VmmExit,
} from '../driver.ts';
import { followFile } from '../log-file.ts';
import { AgentChannel, type GuestExit } from './agent-channel.ts';
import type { Accelerator } from './argv.ts';
import type { PreparedImage } from './boot-config.ts';
import { shutdownReason } from './found-vm.ts';
import { bridgeGuestApi } from './guest-api-bridge.ts';
import { type HostFacts, readHostFacts } from './host-facts.ts';
import { defaultMemoryDir, forkMemoryDir, machineFiles, type MachineFiles } from './machine-files.ts';
import { releaseForkMemoryDir } from './fork-memory.ts';
import { MIGRATION_TIMEOUT_MS, saveState } from './migration.ts';
import { recoverMachine, sweepOrphans } from './qemu-recovery.ts';
import { QmpClient } from './qmp.ts';
import { continueVm, quitVm, reasonOf, unlessIoError, type Vm, vmStatus, watchQmpEvents } from './running-vm.ts';
import { commitSnapshot, DEFAULT_KEEP_MS, releaseMemory, removeSnapshot, writeOutSnapshot } from './snapshot.ts';
import { Standbys } from './standby.ts';
import { coldBoot, resumeVm } from './vm-launch.ts';
import { type Launched, type Plan, planLaunch } from './vm-plan.ts';
import { forkVm } from './fork.ts';
import { isQemu, killQemu, logTail, qemuPids, waitGone } from './vm-process.ts';

export interface QemuDriverOptions {
  machinesDir: string;
  /** A directory in memory (tmpfs) for running guests' RAM (default: see defaultMemoryDir). */
  memoryDir?: string;
  /** How long a suspended machine's RAM stays in memory once written out to disk (default 1 min). */
  suspendedMemoryMs?: number;
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
  /** Freed guest pages go back to the host (default on; see argv.ts). */
  freePageReporting?: boolean;
  /** Under TCG, QEMU's translated-code buffer in MB (default DEFAULT_TCG_BUFFER_MB; 0: QEMU's own default). */
  tcgBufferMb?: number;
  /** Where background failures (a snapshot flush) are reported. */
  onError?: (machineId: string, what: string, error: unknown) => void;
  /** Where what recovery found and did is told (a VM continued, ended, a snapshot recorded). */
  onNotice?: (machineId: string, what: string) => void;
}

/**
 * TCG's buffer of translated code: QEMU's default (1 GiB) fills as the guest runs
 * new code and stays resident (≈ 53 MB once an idle busybox guest has booted).
 * On its own, 32 MB did not slow a guest loop measurably against the default; with free
 * page reporting as well, two runs measured guests slower (BENCHMARKS.md, "Guest memory",
 * second part: not settled). 16 MB slowed boots in a trial not recorded there.
 */
export const DEFAULT_TCG_BUFFER_MB = 32;

export class SuspendCancelled extends Error {
  constructor() {
    super('suspend cancelled by a start');
  }
}

export class QemuDriver implements VmmDriver {
  readonly name = 'qemu';
  readonly options: QemuDriverOptions;
  private readonly vms = new Map<string, Vm>();
  /** Machines whose VM this driver saw end and is ending, until its listeners have the report. */
  private readonly endsInHand = new Set<string>();
  private readonly listeners: Array<(machineId: string, exit: ExitInfo) => void> = [];
  private base: Buffer | undefined;
  private guestApi: GuestApiListener | undefined;
  private facts: Promise<HostFacts> | undefined;
  private recovered = false;
  private readonly standbys: Standbys;

  constructor(options: QemuDriverOptions) {
    this.options = options;
    this.standbys = new Standbys(options.network?.netns, (machineId, error) => options.onError?.(machineId, 'standby VMM', error));
  }

  files(machineId: string): MachineFiles {
    return machineFiles(this.options.machinesDir, machineId, this.memoryDir);
  }

  baseInitramfs(): Buffer {
    this.base ??= baseInitramfs(this.options.assets);
    return this.base;
  }

  hostFacts(): Promise<HostFacts> {
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
    let coldBootReason: string | undefined;
    if (options.resume && current && !current.ended) {
      // A start cancelled the suspend before it finished: the VM never stopped, if QEMU agrees.
      const check = await this.inspect(spec.machineId);
      if (check.running) return { resumed: true, pid: current.pid, suspendCancelled: true };
      coldBootReason = `the VM the cancelled suspend left behind was not running: ${check.vmm.reason}`;
      await this.kill(spec.machineId);
    }
    const files = this.files(spec.machineId);
    let prepared = await this.readPrepared(files);
    if (prepared?.version !== spec.version) {
      await this.prepare(spec);
      prepared = await this.readPrepared(files);
    }
    if (!prepared) throw new Error('image not prepared');
    const plan = await this.plan(spec, files, prepared);
    if (options.resume && !coldBootReason) {
      const resumed = await resumeVm(this, spec, files, plan);
      if ('pid' in resumed) return { resumed: true, pid: resumed.pid };
      coldBootReason = resumed.problem;
    }
    const pid = await coldBoot(this, spec, files, prepared, plan);
    return coldBootReason ? { resumed: false, pid, coldBootReason } : { resumed: false, pid };
  }

  /** How `spec` is booted or resumed on this host. */
  async plan(spec: MachineSpec, files: MachineFiles, prepared: PreparedImage): Promise<Plan> {
    const { accel, tscKhz, network, suspendMaxMemoryMb, volumePath, freePageReporting = true, tcgBufferMb = DEFAULT_TCG_BUFFER_MB } = this.options;
    const settings = {
      accel, tscKhz, netns: network?.netns, suspendMaxMemoryMb, volumePath, kernelPath: this.options.assets.kernel, freePageReporting, tcgBufferMb,
    };
    return planLaunch(spec, files, prepared, settings, await this.hostFacts());
  }

  async bootId(): Promise<string> {
    return (await this.hostFacts()).bootId;
  }

  fork(parentId: string, children: MachineSpec[]): Promise<void> {
    return forkVm(this, parentId, children);
  }

  async setUpTap(spec: Pick<MachineSpec, 'machineId' | 'privateIp' | 'privateIpv4'>): Promise<void> {
    await this.options.network?.attach(linkOf(spec));
  }

  /** Connects to a running QEMU's sockets and follows its machine's exit. */
  async attach(spec: Pick<MachineSpec, 'machineId' | 'appName'>, pid: number, files: MachineFiles, launched: Launched): Promise<Vm> {
    const machineId = spec.machineId;
    const qmp = await QmpClient.connect(files.qmpSocket);
    const agent = await AgentChannel.connect(files.agentSocket).catch((error: unknown) => {
      qmp.close();
      throw error;
    });
    const vm: Vm = { pid, agent, qmp, launched, ended: false, ioErrorWaiters: new Set() };
    this.vms.set(machineId, vm);
    bridgeGuestApi(agent, { appName: spec.appName, machineId }, () => this.guestApi);
    agent.on('exited', (exit) => void this.onGuestExit(machineId, vm, exit));
    qmp.on('close', () => void this.onGuestExit(machineId, vm, null));
    watchQmpEvents(vm, (reason) => void this.onIoError(machineId, vm, reason));
    return vm;
  }

  /**
   * The VM paused on a disk error (QEMU's default for ENOSPC): it would stay frozen.
   * A suspend or launch under way sees it and fails; otherwise the VM is ended and
   * its end reported, so the restart policy applies with the reason.
   */
  private async onIoError(machineId: string, vm: Vm, reason: string): Promise<void> {
    if (vm.ended || vm.suspending || vm.launching || vm.stopping) return;
    await this.vmmEnded(machineId, vm, `the VM paused on an I/O error: ${reason}`);
  }

  /** Ends a VM that cannot go on and reports it as the VMM's end, with the tail of QEMU's log. */
  private async vmmEnded(machineId: string, vm: Vm, reason: string): Promise<void> {
    vm.ended = true;
    this.endsInHand.add(machineId);
    try {
      const log = await logTail(this.files(machineId).qemuLog);
      await this.kill(machineId).catch((error: unknown) => this.options.onError?.(machineId, 'ending a VM that could not go on', error));
      const exit: ExitInfo = { exitCode: 255, oomKilled: false, pid: vm.pid, vmm: { reason, log } };
      for (const listener of this.listeners) listener(machineId, exit);
    } finally {
      this.endsInHand.delete(machineId);
    }
  }

  /** The process ended (or QEMU died: `exit` null): tell whoever waits, then clean up. */
  private async onGuestExit(machineId: string, vm: Vm, exit: GuestExit | null): Promise<void> {
    if (vm.ended || vm.suspending) return;
    vm.ended = true;
    this.endsInHand.add(machineId);
    try {
      await waitGone(vm.pid, 5000);
      killQemu(vm.pid);
      const log = exit ? [] : await logTail(this.files(machineId).qemuLog);
      await this.end(machineId);
      if (vm.stopping) {
        vm.stopping(exit);
        return;
      }
      // A launch under way reports its own failure.
      if (vm.launching) return;
      // QEMU ended without the machine's process exiting: the VMM died, which is no app exit.
      const vmm: VmmExit = { reason: vm.ioError ? `the VM paused on an I/O error (${vm.ioError}), then QEMU ended` : shutdownReason(vm.shutdown), log };
      const info: ExitInfo = { ...(exit ? exitInfo(exit) : { exitCode: 255, oomKilled: false, vmm }), pid: vm.pid };
      for (const listener of this.listeners) listener(machineId, info);
    } finally {
      this.endsInHand.delete(machineId);
    }
  }

  /** Lets go of the machine's VM: channels, process, TAP and RAM file (all but what a snapshot needs). */
  async end(machineId: string, options: { suspended?: boolean } = {}): Promise<void> {
    const vm = this.vms.get(machineId);
    this.vms.delete(machineId);
    vm?.agent.close();
    vm?.qmp.close();
    killQemu(vm?.pid);
    if (options.suspended) return;
    await this.standbys.end(machineId);
    await releaseMemory(this.files(machineId));
    await this.options.network?.detach(machineId);
  }

  /**
   * Ends every QEMU of the machine: by QMP first (`quit`), then by pid (the pid
   * file's, and with `scan` any other QEMU started with it), and checks each is gone.
   * Then lets go of the rest (channels, TAP, RAM file) unless `keepFiles`.
   */
  async kill(machineId: string, options: { keepFiles?: boolean; scan?: boolean; except?: number } = {}): Promise<void> {
    const files = this.files(machineId);
    await this.standbys.end(machineId);
    const vm = this.vms.get(machineId);
    if (vm) {
      vm.ended = true;
      await quitVm(vm);
    }
    const pids = qemuPids(files.pidFile, { scan: options.scan === true }).filter((pid) => pid !== options.except);
    if (vm && !pids.includes(vm.pid) && isQemu(vm.pid)) pids.push(vm.pid);
    // The QMP socket is the kept QEMU's (`except`), if there is one.
    if (!vm && pids.length > 0 && options.except === undefined) await quitByQmp(files.qmpSocket);
    for (const pid of pids) killQemu(pid, files.pidFile);
    for (const pid of pids) {
      if (!(await waitGone(pid, 5000))) throw new Error(`QEMU (pid ${pid}) of machine ${machineId} did not end after SIGKILL`);
    }
    if (options.except === undefined) await rm(files.standby, { force: true });
    if (options.keepFiles) {
      this.vms.delete(machineId);
      vm?.agent.close();
      vm?.qmp.close();
      return;
    }
    await this.end(machineId);
  }

  async inspect(machineId: string): Promise<VmCheck> {
    const vm = this.vms.get(machineId);
    const log = () => logTail(this.files(machineId).qemuLog);
    // Its end came from the VM itself (the app exited, QEMU died, a disk error): that is reported from there.
    if (this.endsInHand.has(machineId)) return { running: false, vmm: { reason: 'the VM ended; its end is being reported', log: [] }, reporting: true };
    if (!vm || vm.ended) {
      const stray = qemuPids(this.files(machineId).pidFile, { scan: false }).length > 0;
      return { running: false, vmm: { reason: stray ? 'a QEMU of the machine runs, but hangar has no hold on it' : 'QEMU is not running', log: await log() } };
    }
    // A suspend under way pauses the VM on purpose; its own outcome is reported.
    if (vm.suspending) return { running: true };
    try {
      const status = await vmStatus(vm);
      if (status.running) return { running: true };
      return { running: false, vmm: { reason: `QEMU reports the VM ${status.status}${vm.ioError ? `: ${vm.ioError}` : ''}`, log: await log() } };
    } catch (error) {
      return { running: false, vmm: { reason: `QEMU does not answer: ${reasonOf(error)}`, log: await log() } };
    }
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
   * the suspend meanwhile, the VM carries on (QEMU is asked that it does); if it
   * cannot (QEMU died, or the VM paused on a disk error), it is ended and the error says so.
   */
  async suspend(machineId: string): Promise<void> {
    const vm = this.running(machineId);
    const files = this.files(machineId);
    const attempt = { cancelled: false };
    vm.suspending = attempt;
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
      vm.ended = true;
      await quitVm(vm, 5000);
      if (!(await waitGone(vm.pid, 5000))) killQemu(vm.pid);
      failpoint('suspend.after-quit');
      await this.end(machineId, { suspended: true });
      const facts = await this.hostFacts();
      const { identity, launchId, sharedMemory } = vm.launched;
      const info = await commitSnapshot(files, { identity, launchId, bootId: facts.bootId, sharedMemory });
      void writeOutSnapshot(files, info.id, this.options.suspendedMemoryMs).catch((error: unknown) => this.options.onError?.(machineId, 'snapshot write-out', error));
      // For as long as the RAM stays in memory, a QEMU waits for the resume.
      if (sharedMemory && vm.layout) this.standbys.start(machineId, files, vm.layout, this.options.suspendedMemoryMs ?? DEFAULT_KEEP_MS);
    } catch (error) {
      vm.suspending = undefined;
      if (!vm.ended && isQemu(vm.pid)) {
        // The VM must either run or be ended: QEMU says which it is.
        const check = await this.inspect(machineId);
        if (check.running) throw error;
        await this.kill(machineId);
        await removeSnapshot(files);
        throw new Error(`${reasonOf(error)}; the VM could not go on (${check.vmm.reason}) and was ended`);
      }
      vm.ended = true;
      await this.kill(machineId);
      await removeSnapshot(files);
      throw new Error(`the VM ended while it was being suspended: ${reasonOf(error)}`);
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
    // Every QEMU started for the machine, not only the one hangar holds or the pid file names.
    await this.kill(machineId, { keepFiles: true, scan: true });
    failpoint('destroy.after-kill');
    await this.end(machineId);
    await rm(files.dir, { recursive: true, force: true });
  }

  takeStandby(machineId: string, argv: string[]): Promise<number | undefined> {
    return this.standbys.take(machineId, argv);
  }

  runningVm(machineId: string): Vm {
    return this.running(machineId);
  }

  private running(machineId: string): Vm {
    const vm = this.vms.get(machineId);
    if (!vm || vm.ended) throw new Error(`machine ${machineId} is not running`);
    return vm;
  }

  async signal(machineId: string, { signal }: { signal: SignalName }): Promise<void> {
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

  async setMemoryLimit(machineId: string, { limitMb }: { limitMb: number }): Promise<MemoryInfo> {
    await this.running(machineId).qmp.execute('balloon', { value: limitMb * (1 << 20) });
    return this.memory(machineId);
  }

  async reclaimMemory(machineId: string, { amountMb }: { amountMb: number }): Promise<{ reclaimedMb: number }> {
    const before = await this.memory(machineId);
    const after = await this.setMemoryLimit(machineId, { limitMb: Math.max(MIN_MEMORY_LIMIT_MB, before.limit_mb - amountMb) });
    return { reclaimedMb: before.limit_mb - after.limit_mb };
  }

  logs(machineId: string, request: LogRequest, signal: AbortSignal): AsyncIterable<string> {
    return followFile(this.files(machineId).consoleLog, request, signal);
  }

  onGuestApi(listener: GuestApiListener): void {
    this.guestApi = listener;
  }

  onExit(listener: (machineId: string, exit: ExitInfo) => void): void {
    this.listeners.push(listener);
  }

  async recover(specs: MachineSpec[]): Promise<Map<string, RecoveredVm>> {
    const found = new Map<string, RecoveredVm>();
    // The first call is the start's: QEMUs of machines whose files are gone have nothing behind them.
    if (!this.recovered) {
      for (const orphan of await sweepOrphans(this.options.machinesDir)) this.options.onNotice?.(orphan.machineId, `ended QEMU ${orphan.pid}, whose machine's files are gone`);
    }
    for (const spec of specs) {
      const vm = this.vms.get(spec.machineId);
      const result = vm && !vm.ended ? { vm: 'running' as const, version: vm.launched.identity.version } : await recoverMachine(this, spec);
      if (result.detail) this.options.onNotice?.(spec.machineId, `recovery: ${result.detail}`);
      found.set(spec.machineId, result);
    }
    // The first call is the start's, with every live machine: the network learns which links must exist.
    if (!this.recovered) {
      this.recovered = true;
      const live = specs.filter((spec) => found.get(spec.machineId)?.vm !== 'absent');
      await this.options.network?.adopt(live.map(linkOf));
    }
    return found;
  }

  async held(): Promise<string[]> {
    const entries = await readdir(this.options.machinesDir, { withFileTypes: true }).catch(() => []);
    return [...new Set([...this.vms.keys(), ...entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)])];
  }

  /** Where running guests' RAM lives (tmpfs). */
  get memoryDir(): string {
    return this.options.memoryDir ?? defaultMemoryDir(this.options.machinesDir);
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
    // Gone only when empty: the RAM of VMs that outlive hangar, and of suspended machines, stays.
    await rmdir(this.memoryDir).catch(() => undefined);
    await releaseForkMemoryDir(forkMemoryDir(this.memoryDir));
  }

  async readPrepared(files: MachineFiles): Promise<PreparedImage | undefined> {
    try {
      return JSON.parse(await readFile(files.prepared, 'utf8')) as PreparedImage;
    } catch {
      return undefined;
    }
  }
}

/** Asks a QEMU hangar has no hold on to quit, over its QMP socket (it may not answer). */
async function quitByQmp(socket: string): Promise<void> {
  try {
    const qmp = await QmpClient.connect(socket, 1000);
    await qmp.execute('quit', {}, 1000).catch(() => undefined);
    qmp.close();
  } catch {
    // not answering: ended by pid
  }
}

/** The machine's link as the network makes it: its addresses, IPv4 the one recorded with it if any. */
function linkOf(spec: Pick<MachineSpec, 'machineId' | 'privateIp' | 'privateIpv4'>): MachineLink {
  return { machineId: spec.machineId, privateIp: spec.privateIp, ...(spec.privateIpv4 === undefined ? {} : { privateIpv4: spec.privateIpv4 }) };
}

function exitInfo(exit: GuestExit): ExitInfo {
  return exit.signal > 0 ? { exitCode: exit.exitCode, oomKilled: exit.oomKilled, signal: exit.signal } : { exitCode: exit.exitCode, oomKilled: exit.oomKilled };
}
