/**
 * The QEMU driver's hold on its VMs: the registry of the VMs hangar holds (one per
 * machine) and the primitives every operation on them is made of — where a
 * machine's files are, the host's facts, how a spec is booted here (plan), taking
 * hold of a QEMU (attach), following its end, ending it (kill, end) and asking
 * QEMU what its VM is (inspect).
 *
 * Launch (vm-launch.ts), suspend (vm-suspend.ts), fork (fork.ts) and recovery
 * (qemu-recovery.ts) all work through one VmHost; QemuDriver is the facade that
 * answers the VmmDriver interface with them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { baseInitramfs, type GuestAssets } from '../../guest/initramfs.ts';
import type { ImageStore } from '../../image/image-store.ts';
import type { MachineLink, MachineNetwork } from '../../network/keeper.ts';
import { guestLink } from './fork.ts';
import type { ExitInfo, GuestApiListener, MachineSpec, VmCheck, VmmExit } from '../driver.ts';
import { AgentChannel, type GuestExit } from './agent-channel.ts';
import type { Accelerator, VmLayout } from './argv.ts';
import type { PreparedImage } from './boot-config.ts';
import { shutdownReason } from './found-vm.ts';
import { bridgeGuestApi } from './guest-api-bridge.ts';
import { type HostFacts, readHostFacts } from './host-facts.ts';
import { defaultMemoryDir, machineFiles, type MachineFiles } from './machine-files.ts';
import { QmpClient } from './qmp.ts';
import { hasEnded, launchReportsEnd, markEnded, quitVm, reasonOf, type Vm, vmStatus, watchQmpEvents } from './running-vm.ts';
import { DEFAULT_KEEP_MS, releaseMemory } from './snapshot.ts';
import { Standbys } from './standby.ts';
import { type Launched, type Plan, planLaunch } from './vm-plan.ts';
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

export class VmHost {
  readonly options: QemuDriverOptions;
  private readonly vms = new Map<string, Vm>();
  /** Machines whose VM this driver saw end and is ending, until its listeners have the report. */
  private readonly endsInHand = new Set<string>();
  private readonly listeners: Array<(machineId: string, exit: ExitInfo) => void> = [];
  private readonly standbys: Standbys;
  private base: Buffer | undefined;
  private envd: Buffer | undefined;
  private facts: Promise<HostFacts> | undefined;
  /** Who serves connections made inside machines to `/.fly/api`. */
  guestApi: GuestApiListener | undefined;

  constructor(options: QemuDriverOptions) {
    this.options = options;
    this.standbys = new Standbys(options.network?.netns, (machineId, error) => options.onError?.(machineId, 'standby VMM', error));
  }

  /** Where running guests' RAM lives (tmpfs). */
  get memoryDir(): string {
    return this.options.memoryDir ?? defaultMemoryDir(this.options.machinesDir);
  }

  files(machineId: string): MachineFiles {
    return machineFiles(this.options.machinesDir, machineId, this.memoryDir);
  }

  /** The initramfs every machine shares (kernel modules, hangar-init). */
  baseInitramfs(): Buffer {
    this.base ??= baseInitramfs(this.options.assets);
    return this.base;
  }

  /** The sandbox agent's binary, for machines that run it. */
  sandboxAgent(): Buffer {
    if (!existsSync(this.options.assets.envd)) throw new Error(`the sandbox agent is missing at ${this.options.assets.envd}: run scripts/setup-guest.sh`);
    this.envd ??= readFileSync(this.options.assets.envd);
    return this.envd;
  }

  hostFacts(): Promise<HostFacts> {
    this.facts ??= readHostFacts([this.options.assets.kernel, this.options.assets.init]);
    return this.facts;
  }

  /** How `spec` is booted or resumed on this host. */
  async plan(spec: MachineSpec, files: MachineFiles, prepared: PreparedImage): Promise<Plan> {
    const { accel, tscKhz, network, suspendMaxMemoryMb, volumePath, freePageReporting = true, tcgBufferMb = DEFAULT_TCG_BUFFER_MB } = this.options;
    const settings = {
      accel, tscKhz, netns: network?.netns, suspendMaxMemoryMb, volumePath, kernelPath: this.options.assets.kernel, freePageReporting, tcgBufferMb,
    };
    return planLaunch(spec, files, prepared, settings, await this.hostFacts(), guestLink(spec, network)?.addresses);
  }

  async readPrepared(files: MachineFiles): Promise<PreparedImage | undefined> {
    try {
      return JSON.parse(await readFile(files.prepared, 'utf8')) as PreparedImage;
    } catch {
      return undefined;
    }
  }

  /** The VM hangar holds for the machine, if any (it may have ended). */
  vm(machineId: string): Vm | undefined {
    return this.vms.get(machineId);
  }

  /** The machine's VM, which must not have ended. */
  running(machineId: string): Vm {
    const vm = this.vms.get(machineId);
    if (!vm || hasEnded(vm)) throw new Error(`machine ${machineId} is not running`);
    return vm;
  }

  /** The machines hangar holds a VM of. */
  machineIds(): string[] {
    return [...this.vms.keys()];
  }

  onExit(listener: (machineId: string, exit: ExitInfo) => void): void {
    this.listeners.push(listener);
  }

  async setUpTap(spec: Pick<MachineSpec, 'machineId' | 'privateIp' | 'privateIpv4'>): Promise<void> {
    await this.options.network?.attach(linkOf(spec));
  }

  /**
   * Sets up the machine's TAP unless it is already, as it is after a suspend here
   * (QEMU would make a bare one of that name itself, with no routes to it).
   */
  async keepTap(spec: Pick<MachineSpec, 'machineId' | 'privateIp' | 'privateIpv4'>): Promise<void> {
    const network = this.options.network;
    if (network && !network.holds(linkOf(spec))) await network.attach(linkOf(spec));
  }

  /** Connects to a running QEMU's sockets and follows its machine's exit. */
  async attach(spec: Pick<MachineSpec, 'machineId' | 'appName'>, pid: number, files: MachineFiles, launched: Launched): Promise<Vm> {
    const machineId = spec.machineId;
    const qmp = await QmpClient.connect(files.qmpSocket);
    const agent = await AgentChannel.connect(files.agentSocket).catch((error: unknown) => {
      qmp.close();
      throw error;
    });
    const vm: Vm = { pid, agent, qmp, launched, phase: { is: 'running' }, ioErrorWaiters: new Set() };
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
    if (vm.phase.is !== 'running') return;
    await this.vmmEnded(machineId, vm, `the VM paused on an I/O error: ${reason}`);
  }

  /** Ends a VM that cannot go on and reports it as the VMM's end, with the tail of QEMU's log. */
  private async vmmEnded(machineId: string, vm: Vm, reason: string): Promise<void> {
    markEnded(vm);
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
    if (hasEnded(vm) || vm.phase.is === 'suspending') return;
    const stopper = vm.phase.is === 'stopping' ? vm.phase.stopped : undefined;
    markEnded(vm);
    this.endsInHand.add(machineId);
    try {
      await waitGone(vm.pid, 5000);
      killQemu(vm.pid);
      const log = exit ? [] : await logTail(this.files(machineId).qemuLog);
      await this.end(machineId);
      if (stopper) {
        stopper(exit);
        return;
      }
      // A launch under way reports its own failure.
      if (launchReportsEnd(vm)) return;
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
    killQemu(this.forget(machineId)?.pid);
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
      markEnded(vm);
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
      this.forget(machineId);
      return;
    }
    await this.end(machineId);
  }

  /** Lets go of every VM without stopping it: they keep running for the next hangar. */
  letGoOfAll(): void {
    for (const [machineId, vm] of this.vms) {
      markEnded(vm);
      this.forget(machineId);
    }
  }

  /** Drops the machine's VM from the registry and closes its channels; its QEMU is left as it is. */
  private forget(machineId: string): Vm | undefined {
    const vm = this.vms.get(machineId);
    this.vms.delete(machineId);
    vm?.agent.close();
    vm?.qmp.close();
    return vm;
  }

  async inspect(machineId: string): Promise<VmCheck> {
    const vm = this.vms.get(machineId);
    const log = () => logTail(this.files(machineId).qemuLog);
    // Its end came from the VM itself (the app exited, QEMU died, a disk error): that is reported from there.
    if (this.endsInHand.has(machineId)) return { running: false, vmm: { reason: 'the VM ended; its end is being reported', log: [] }, reporting: true };
    if (!vm || hasEnded(vm)) {
      const stray = qemuPids(this.files(machineId).pidFile, { scan: false }).length > 0;
      return { running: false, vmm: { reason: stray ? 'a QEMU of the machine runs, but hangar has no hold on it' : 'QEMU is not running', log: await log() } };
    }
    // A suspend under way pauses the VM on purpose; its own outcome is reported.
    if (vm.phase.is === 'suspending') return { running: true };
    try {
      const status = await vmStatus(vm);
      if (status.running) return { running: true };
      return { running: false, vmm: { reason: `QEMU reports the VM ${status.status}${vm.ioError ? `: ${vm.ioError}` : ''}`, log: await log() } };
    } catch (error) {
      return { running: false, vmm: { reason: `QEMU does not answer: ${reasonOf(error)}`, log: await log() } };
    }
  }

  /**
   * Starts a QEMU that waits for the suspended machine's resume, for as long as its
   * RAM stays in memory (standby.ts), after `first` (which may bring the RAM there).
   */
  startStandby(machineId: string, files: MachineFiles, layout: VmLayout, first?: () => Promise<void>): void {
    this.standbys.start(machineId, files, layout, this.keepMemoryMs, first);
  }

  /** How long a suspended machine's RAM stays in memory (`--suspended-memory-for`). */
  get keepMemoryMs(): number {
    return this.options.suspendedMemoryMs ?? DEFAULT_KEEP_MS;
  }

  /** A standby QEMU started with `argv` for this machine's resume, now the caller's (standby.ts). */
  takeStandby(machineId: string, argv: string[]): Promise<number | undefined> {
    return this.standbys.take(machineId, argv);
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
export function linkOf(spec: Pick<MachineSpec, 'machineId' | 'privateIp' | 'privateIpv4'>): MachineLink {
  return { machineId: spec.machineId, privateIp: spec.privateIp, ...(spec.privateIpv4 === undefined ? {} : { privateIpv4: spec.privateIpv4 }) };
}

export function exitInfo(exit: GuestExit): ExitInfo {
  return exit.signal > 0 ? { exitCode: exit.exitCode, oomKilled: exit.oomKilled, signal: exit.signal } : { exitCode: exit.exitCode, oomKilled: exit.oomKilled };
}
