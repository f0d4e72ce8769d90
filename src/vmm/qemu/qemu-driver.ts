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
 *
 * This class is the facade that answers the VmmDriver interface. The VMs it holds,
 * and the primitives every operation on them is made of, are a VmHost (vm-host.ts);
 * launch, suspend, fork and recovery each have their module and work through it.
 */
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { MIN_MEMORY_LIMIT_MB } from '../../domain/guest-ops.ts';
import { type ImageRef, isLocalImage, pinnedReference } from '../../domain/image-ref.ts';
import { signalNumber, type SignalName } from '../../domain/signals.ts';
import { failpoint } from '../../system/failpoints.ts';
import type {
  ExecRequest, ExecResult, ExitInfo, GuestApiListener, LaunchResult, LogRequest, MachineSpec, MemoryInfo,
  PackedFile, ProcessInfo, PullProgress, RecoveredVm, VmCheck, VmmDriver,
} from '../driver.ts';
import { followFile } from '../log-file.ts';
import type { GuestExit } from './agent-channel.ts';
import type { PreparedImage } from './boot-config.ts';
import { forkMemoryDir, type MachineFiles } from './machine-files.ts';
import { releaseForkMemoryDir } from './fork-memory.ts';
import { recoverMachine, sweepOrphans } from './qemu-recovery.ts';
import { hasEnded } from './running-vm.ts';
import { removeSnapshot } from './snapshot.ts';
import { coldBoot, resumeVm } from './vm-launch.ts';
import { forkVm } from './fork.ts';
import { exitInfo, linkOf, type QemuDriverOptions, VmHost } from './vm-host.ts';
import { killQemu } from './vm-process.ts';
import { cancelSuspend, suspendVm } from './vm-suspend.ts';
import { packSnapshot, readyToResume, unpackSnapshot } from './vm-parcel.ts';
import { writeOutsEnded } from './write-out.ts';

export class QemuDriver implements VmmDriver {
  readonly name = 'qemu';
  private readonly host: VmHost;
  private recovered = false;

  constructor(options: QemuDriverOptions) {
    this.host = new VmHost(options);
  }

  private get options(): QemuDriverOptions {
    return this.host.options;
  }

  files(machineId: string): MachineFiles {
    return this.host.files(machineId);
  }

  async pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef> {
    return (await this.options.images.prepare(reference, onProgress)).imageRef;
  }

  /**
   * Without a signal (a launch whose image changed), it runs to the end. A machine
   * whose image is pinned already (a digest recorded for its tag: an API replica
   * pins at create) gets that image, whatever its tag names by now.
   */
  async prepare(spec: MachineSpec, signal?: AbortSignal): Promise<{ imageRef: ImageRef }> {
    const pinned = spec.imageRef.digest !== '' && !isLocalImage(spec.imageRef);
    const image = await this.options.images.prepare(pinned ? pinnedReference(spec.imageRef) : spec.config.image, undefined, signal);
    const imageRef = pinned ? { ...image.imageRef, tag: spec.imageRef.tag } : image.imageRef;
    const files = this.files(spec.machineId);
    await mkdir(files.dir, { recursive: true });
    const prepared: PreparedImage = { version: spec.version, rootfsPath: image.rootfsPath, imageRef, config: image.config };
    await writeFile(files.prepared, JSON.stringify(prepared));
    return { imageRef };
  }

  async launch(spec: MachineSpec, options: { resume: boolean }): Promise<LaunchResult> {
    const current = this.host.vm(spec.machineId);
    let coldBootReason: string | undefined;
    if (options.resume && current && !hasEnded(current)) {
      // A start cancelled the suspend before it finished: the VM never stopped, if QEMU agrees.
      const check = await this.inspect(spec.machineId);
      if (check.running) return { resumed: true, pid: current.pid, suspendCancelled: true };
      coldBootReason = `the VM the cancelled suspend left behind was not running: ${check.vmm.reason}`;
      await this.kill(spec.machineId);
    }
    const files = this.files(spec.machineId);
    let prepared = await this.host.readPrepared(files);
    if (prepared?.version !== spec.version) {
      await this.prepare(spec);
      prepared = await this.host.readPrepared(files);
    }
    if (!prepared) throw new Error('image not prepared');
    const plan = await this.host.plan(spec, files, prepared);
    if (options.resume && !coldBootReason) {
      const resumed = await resumeVm(this.host, spec, files, plan);
      if ('pid' in resumed) return { resumed: true, pid: resumed.pid };
      coldBootReason = resumed.problem;
    }
    const pid = await coldBoot(this.host, spec, files, prepared, plan);
    return coldBootReason ? { resumed: false, pid, coldBootReason } : { resumed: false, pid };
  }

  fork(parentId: string, children: MachineSpec[]): Promise<void> {
    return forkVm(this.host, parentId, children);
  }

  /** Ends every QEMU of the machine, checking each is gone, and lets go of its TAP and RAM file. */
  kill(machineId: string): Promise<void> {
    return this.host.kill(machineId);
  }

  inspect(machineId: string): Promise<VmCheck> {
    return this.host.inspect(machineId);
  }

  async stop(machineId: string, signal: SignalName, timeoutMs: number): Promise<ExitInfo | null> {
    const vm = this.host.vm(machineId);
    if (!vm || hasEnded(vm)) return null;
    const exited = new Promise<GuestExit | null>((resolve) => { vm.phase = { is: 'stopping', stopped: resolve }; });
    try {
      await vm.agent.stop(signalNumber(signal), timeoutMs);
    } catch {
      killQemu(vm.pid);
    }
    const exit = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs + 15_000))]);
    if (!hasEnded(vm)) {
      killQemu(vm.pid);
      await exited;
    }
    return exit ? exitInfo(exit) : { exitCode: 137, oomKilled: false, signal: signalNumber('SIGKILL') };
  }

  suspend(machineId: string): Promise<void> {
    return suspendVm(this.host, machineId);
  }

  cancelSuspend(machineId: string): void {
    cancelSuspend(this.host, machineId);
  }

  async discardSnapshot(machineId: string): Promise<void> {
    const files = this.files(machineId);
    await removeSnapshot(files);
    if (!this.host.vm(machineId)) await this.host.end(machineId);
  }

  packSnapshot(machineId: string): Promise<Map<string, PackedFile>> {
    return packSnapshot(this.host, machineId);
  }

  readyToResume(spec: MachineSpec): Promise<void> {
    return readyToResume(this.host, spec);
  }

  unpackSnapshot(spec: MachineSpec, received: Map<string, string>): Promise<void> {
    return unpackSnapshot(this.host, spec, received, async () => { await this.prepare(spec); });
  }

  async destroy(machineId: string): Promise<void> {
    const files = this.files(machineId);
    // Every QEMU started for the machine, not only the one hangar holds or the pid file names.
    await this.host.kill(machineId, { keepFiles: true, scan: true });
    failpoint('destroy.after-kill');
    await this.host.end(machineId);
    // A write-out of its last suspend still writing would put files back as the directory is removed.
    await writeOutsEnded(files);
    await rm(files.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  async signal(machineId: string, { signal }: { signal: SignalName }): Promise<void> {
    await this.host.running(machineId).agent.signal(signalNumber(signal));
  }

  async exec(machineId: string, request: ExecRequest): Promise<ExecResult> {
    const result = await this.host.running(machineId).agent.exec(request.command, { stdin: request.stdin, timeoutMs: request.timeoutMs });
    return { stdout: result.stdout, stderr: result.stderr, exit_code: result.exitCode, exit_signal: result.signal };
  }

  async ps(machineId: string): Promise<ProcessInfo[]> {
    const processes = await this.host.running(machineId).agent.ps();
    return processes.map((p) => ({
      pid: p.pid, command: p.command, cpu: 0, rss: p.rssKb * 1024, rtime: p.utimeMs, stime: p.stimeMs, directory: p.cwd, listen_sockets: [],
    }));
  }

  async memory(machineId: string): Promise<MemoryInfo> {
    const { actual } = await this.host.running(machineId).qmp.execute('query-balloon', {});
    const limit = Math.round(actual / (1 << 20));
    return { limit_mb: limit, available_mb: limit };
  }

  async setMemoryLimit(machineId: string, { limitMb }: { limitMb: number }): Promise<MemoryInfo> {
    await this.host.running(machineId).qmp.execute('balloon', { value: limitMb * (1 << 20) });
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
    this.host.guestApi = listener;
  }

  onExit(listener: (machineId: string, exit: ExitInfo) => void): void {
    this.host.onExit(listener);
  }

  async recover(specs: MachineSpec[]): Promise<Map<string, RecoveredVm>> {
    const found = new Map<string, RecoveredVm>();
    // The first call is the start's: QEMUs of machines whose files are gone have nothing behind them.
    if (!this.recovered) {
      for (const orphan of await sweepOrphans(this.options.machinesDir)) this.options.onNotice?.(orphan.machineId, `ended QEMU ${orphan.pid}, whose machine's files are gone`);
    }
    for (const spec of specs) {
      const vm = this.host.vm(spec.machineId);
      const result = vm && !hasEnded(vm) ? { vm: 'running' as const, version: vm.launched.identity.version } : await recoverMachine(this.host, spec);
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
    return [...new Set([...this.host.machineIds(), ...entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)])];
  }

  /** Lets go of the VMs without stopping them: they keep running for the next hangar. */
  async close(): Promise<void> {
    this.options.network?.close();
    this.host.letGoOfAll();
    // Gone only when empty: the RAM of VMs that outlive hangar, and of suspended machines, stays.
    await rmdir(this.host.memoryDir).catch(() => undefined);
    await releaseForkMemoryDir(forkMemoryDir(this.host.memoryDir));
  }
}
