/**
 * The `qemu` VMM driver: each machine is one QEMU `microvm` process booted from
 * its image's ext4 root filesystem (through a per-machine copy-on-write overlay),
 * with hangar-init as PID 1 reached over virtio-serial. QEMU runs detached, so
 * VMs outlive a crash of hangar; `recover` finds them again by pid file.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type ImageRef, pinnedReference } from '../../domain/image-ref.ts';
import { processArgv, processEnv, type ImageProcessConfig } from '../../domain/process-spec.ts';
import { signalNumber, type SignalName } from '../../domain/signals.ts';
import { parseDurationInput } from '../../domain/duration.ts';
import { machineInitramfs, type InitConfig } from '../../guest/init-config.ts';
import { baseInitramfs, type GuestAssets } from '../../guest/initramfs.ts';
import type { ImageStore } from '../../image/image-store.ts';
import { runCommands } from '../../network/host-network.ts';
import {
  allowSameApp, GUEST_GATEWAY4, GUEST_GATEWAY6, guestMac, machineIpv4, machineLinkSetup, machineLinkTeardown, tapName,
} from '../../network/plan.ts';
import type {
  ExecRequest, ExecResult, ExitInfo, LogOptions, MachineSpec, MemoryInfo, ProcessInfo, PullProgress, RecoveredVm, VmmDriver,
} from '../driver.ts';
import { followFile } from '../log-file.ts';
import { AgentChannel, type GuestExit } from './agent-channel.ts';
import { type Accelerator, kernelCommandLine, qemuArgv } from './argv.ts';
import { keepsRootfs, machineFiles, type MachineFiles, type OverlayOwner, overlayArgv } from './machine-files.ts';
import { QmpClient } from './qmp.ts';
import { growFilesystem } from '../../volumes/local-volumes.ts';
import { isQemu, killQemu, readPid, startQemu, waitGone } from './vm-process.ts';

const run = promisify(execFile);

export interface QemuDriverOptions {
  machinesDir: string;
  images: ImageStore;
  assets: GuestAssets;
  accel: Accelerator;
  /** Host TSC rate, passed to TCG guests (see argv.ts). */
  tscKhz?: number;
  /** The machines' network namespace; none leaves machines without a network. */
  netns?: string;
  bootTimeoutMs?: number;
  /** Where a volume's ext4 file is. */
  volumePath?: (volumeId: string) => string;
}

interface Prepared {
  version: string;
  rootfsPath: string;
  imageRef: ImageRef;
  config: ImageProcessConfig;
}

/** A running machine: its QEMU process and the two channels into it. */
interface Vm {
  pid: number;
  agent: AgentChannel;
  qmp: QmpClient;
  /** Set while hangar itself is stopping the machine: the exit goes to the stopper. */
  stopping?: (exit: GuestExit | null) => void;
  ended: boolean;
}

export class QemuDriver implements VmmDriver {
  readonly name = 'qemu';
  private readonly options: QemuDriverOptions;
  private readonly vms = new Map<string, Vm>();
  private readonly listeners: Array<(machineId: string, exit: ExitInfo) => void> = [];
  private base: Buffer | undefined;

  constructor(options: QemuDriverOptions) {
    this.options = options;
  }

  private files(machineId: string): MachineFiles {
    return machineFiles(this.options.machinesDir, machineId);
  }

  async pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef> {
    return (await this.options.images.prepare(reference, onProgress)).imageRef;
  }

  async prepare(spec: MachineSpec): Promise<{ imageRef: ImageRef }> {
    const image = await this.options.images.prepare(spec.config.image);
    const files = this.files(spec.machineId);
    await mkdir(files.dir, { recursive: true });
    const prepared: Prepared = { version: spec.version, rootfsPath: image.rootfsPath, imageRef: image.imageRef, config: image.config };
    await writeFile(files.prepared, JSON.stringify(prepared));
    return { imageRef: image.imageRef };
  }

  /** Boots cold; resuming from a snapshot comes with suspend support. */
  async launch(spec: MachineSpec, _options: { resume: boolean }): Promise<{ resumed: boolean; pid?: number }> {
    const files = this.files(spec.machineId);
    let prepared = await this.readPrepared(files);
    if (prepared?.version !== spec.version) {
      await this.prepare(spec);
      prepared = await this.readPrepared(files);
    }
    if (!prepared) throw new Error('image not prepared');
    const owner = { version: spec.version, digest: prepared.imageRef.digest };
    const previous = await readFile(files.overlayOf, 'utf8').then((text) => JSON.parse(text) as OverlayOwner, () => undefined);
    if (!existsSync(files.overlay) || !keepsRootfs(spec.config.rootfs?.persist ?? 'never', previous, owner)) {
      // A cold boot starts from a blank copy of the image, as Fly's machines do.
      await rm(files.overlay, { force: true });
      await run('qemu-img', overlayArgv(prepared.rootfsPath, files.overlay));
    }
    await writeFile(files.overlayOf, JSON.stringify(owner));
    this.base ??= baseInitramfs(this.options.assets);
    const mounts = this.volumeMounts(spec);
    await writeFile(files.initrd, Buffer.concat([this.base, machineInitramfs(this.initConfig(spec, prepared, mounts))]));
    await rm(files.agentSocket, { force: true });
    await rm(files.qmpSocket, { force: true });
    const tap = this.options.netns ? tapName(spec.machineId) : undefined;
    if (tap && this.options.netns) {
      await runCommands(machineLinkTeardown(this.options.netns, tap), { tolerant: true });
      await runCommands([...machineLinkSetup(this.options.netns, tap, spec.privateIp), allowSameApp(this.options.netns, spec.privateIp)]);
    }
    for (const mount of mounts) await growFilesystem(mount.file);
    const argv = qemuArgv({
      accel: this.options.accel,
      cpus: spec.config.guest.cpus,
      memoryMb: spec.config.guest.memory_mb,
      kernelPath: this.options.assets.kernel,
      initrdPath: files.initrd,
      kernelArgs: kernelCommandLine({ tscKhz: this.options.accel === 'tcg' ? this.options.tscKhz : undefined, extra: spec.config.guest.kernel_args }),
      rootDisk: { path: files.overlay, format: 'qcow2' },
      disks: mounts.map((mount) => ({ path: mount.file, format: 'raw' as const })),
      tap: tap ? { ifname: tap, mac: guestMac(spec.machineId) } : undefined,
      qmpSocket: files.qmpSocket,
      agentSocket: files.agentSocket,
      consoleLog: files.consoleLog,
      pidFile: files.pidFile,
    });
    const pid = await startQemu(argv, this.options.netns, files.pidFile);
    const vm = await this.attach(spec.machineId, pid, files);
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
    return { resumed: false, pid };
  }

  /** The machine's volume (at most one), as /dev/vdb onwards. */
  private volumeMounts(spec: MachineSpec): Array<{ file: string; device: string; path: string }> {
    const volumePath = this.options.volumePath;
    if (!volumePath) return [];
    return (spec.config.mounts ?? []).map((mount, index) => ({
      file: volumePath(mount.volume),
      device: `/dev/vd${String.fromCharCode(98 + index)}`,
      path: mount.path,
    }));
  }

  private initConfig(spec: MachineSpec, prepared: Prepared, mounts: Array<{ device: string; path: string }>): InitConfig {
    const init = spec.config.init;
    const stop = spec.config.stop_config;
    const ipv4 = this.options.netns ? machineIpv4(spec.privateIp) : undefined;
    const files = (spec.config.files ?? [])
      .filter((file) => typeof file.raw_value === 'string')
      .map((file) => ({ path: file.guest_path, mode: typeof file.mode === 'number' ? file.mode : 0o644, content: Buffer.from(file.raw_value as string, 'base64') }));
    const resolvConf = dnsResolvConf(spec.config.dns);
    if (resolvConf) files.unshift({ path: '/etc/resolv.conf', mode: 0o644, content: Buffer.from(resolvConf) });
    return {
      hostname: spec.machineId,
      rootDevice: '/dev/vda',
      mounts: mounts.map(({ device, path }) => ({ device, path })),
      net: ipv4 ? { ifname: 'eth0', ipv6: `${spec.privateIp}/128`, gateway6: GUEST_GATEWAY6, ipv4: `${ipv4}/32`, gateway4: GUEST_GATEWAY4 } : undefined,
      env: processEnv(prepared.config, spec.config.env ?? {}, {
        appName: spec.appName, machineId: spec.machineId, region: spec.region, privateIp: spec.privateIp, privateIpv4: ipv4,
        imageRef: pinnedReference(prepared.imageRef), version: spec.version,
      }),
      argv: processArgv(prepared.config, { exec: init.exec, entrypoint: init.entrypoint, cmd: init.cmd }),
      workdir: prepared.config.WorkingDir || undefined,
      user: prepared.config.User || undefined,
      files,
      stop: {
        signal: signalNumber((stop?.signal as SignalName | undefined) ?? 'SIGINT'),
        timeoutMs: stop?.timeout ? parseDurationInput(stop.timeout, 'stop_config.timeout', 'ns') : 5000,
      },
    };
  }

  /** Connects to a running QEMU's sockets and follows its machine's exit. */
  private async attach(machineId: string, pid: number, files: MachineFiles): Promise<Vm> {
    const qmp = await QmpClient.connect(files.qmpSocket);
    const agent = await AgentChannel.connect(files.agentSocket);
    const vm: Vm = { pid, agent, qmp, ended: false };
    this.vms.set(machineId, vm);
    agent.on('exited', (exit) => void this.onGuestExit(machineId, vm, exit));
    qmp.on('close', () => void this.onGuestExit(machineId, vm, null));
    return vm;
  }

  /** The process ended (or QEMU died: `exit` null): tell whoever waits, then clean up. */
  private async onGuestExit(machineId: string, vm: Vm, exit: GuestExit | null): Promise<void> {
    if (vm.ended) return;
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

  private async end(machineId: string): Promise<void> {
    const vm = this.vms.get(machineId);
    this.vms.delete(machineId);
    vm?.agent.close();
    vm?.qmp.close();
    killQemu(vm?.pid);
    if (this.options.netns) await runCommands(machineLinkTeardown(this.options.netns, tapName(machineId)), { tolerant: true });
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

  async suspend(): Promise<void> {
    throw new Error('suspend is not supported by the qemu driver yet');
  }

  async discardSnapshot(): Promise<void> {
    // No snapshots yet.
  }

  async destroy(machineId: string): Promise<void> {
    const files = this.files(machineId);
    const vm = this.vms.get(machineId);
    if (vm) vm.ended = true;
    killQemu(vm?.pid ?? readPid(files.pidFile));
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
      } else if (isQemu(pid) && existsSync(files.agentSocket)) {
        try {
          await this.attach(spec.machineId, pid as number, files);
          found.set(spec.machineId, 'running');
        } catch {
          found.set(spec.machineId, 'absent');
        }
      } else {
        found.set(spec.machineId, 'absent');
      }
    }
    return found;
  }

  /** Lets go of the VMs without stopping them: they keep running for the next hangar. */
  async close(): Promise<void> {
    for (const vm of this.vms.values()) {
      vm.ended = true;
      vm.agent.close();
      vm.qmp.close();
    }
    this.vms.clear();
  }

  private async readPrepared(files: MachineFiles): Promise<Prepared | undefined> {
    try {
      return JSON.parse(await readFile(files.prepared, 'utf8')) as Prepared;
    } catch {
      return undefined;
    }
  }
}


/** `/etc/resolv.conf` for `config.dns`; none unless nameservers are given (guests ask nobody by default). */
function dnsResolvConf(dns: MachineSpec['config']['dns']): string | undefined {
  if (!dns?.nameservers?.length) return undefined;
  const lines = dns.nameservers.map((server) => `nameserver ${server}`);
  if (dns.searches?.length) lines.push(`search ${dns.searches.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

function exitInfo(exit: GuestExit): ExitInfo {
  return exit.signal > 0 ? { exitCode: exit.exitCode, oomKilled: exit.oomKilled, signal: exit.signal } : { exitCode: exit.exitCode, oomKilled: exit.oomKilled };
}
