/**
 * A VMM driver with no VMs: each operation takes a configurable time and can be
 * told to fail, so the control plane's behaviour can be tested without a hypervisor.
 * It is for tests and for trying the API; it never runs a guest. It passes the same
 * driver contract as the QEMU driver (test/helpers/driver-contract.ts): its pretend
 * VMs live in a `FakeHost` that outlives a driver (as QEMU processes outlive hangar;
 * fake-host.ts), each cold boot starts from a blank root filesystem that a resume
 * keeps, and a few commands run in it (fake-guest.ts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Duplex, duplexPair } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ImageRef, parseImageRef } from '../../domain/image-ref.ts';
import { lastLines } from '../log-file.ts';
import { type SignalName, signalNumber } from '../../domain/signals.ts';
import { failpoint } from '../../system/failpoints.ts';
import {
  type ExecRequest, type ExecResult, type ExitInfo, type GuestApiListener, type LaunchResult, type LogRequest, type MachineSpec, type MemoryInfo,
  type PackedFile, type ProcessInfo, type PullProgress, type RecoveredVm, ResumeRefused, type VmCheck, type VmmDriver,
} from '../driver.ts';
import { FakeHost, type FakeVm, type FakeVms } from './fake-host.ts';
import { runCommand } from './fake-guest.ts';

export { FakeHost, type FakeLedgerEntry } from './fake-host.ts';

export interface FakeDelays {
  prepareMs: number;
  bootMs: number;
  resumeMs: number;
  stopMs: number;
  suspendMs: number;
  destroyMs: number;
}

export type FakeOperation = 'pull' | 'prepare' | 'launch' | 'resume' | 'stop' | 'suspend' | 'fork' | 'destroy' | 'exec' | 'pack_snapshot' | 'unpack_snapshot' | 'ready_to_resume';

/** The call log is bounded so a long-running `hangar serve --driver fake` does not grow. */
const MAX_CALLS = 10_000;

/** The digest the fake driver makes up for an image's tag (it has no registry to ask). */
export function fakeDigestOf(ref: ImageRef): string {
  return `sha256:${createHash('sha256').update(`${ref.registry}/${ref.repository}:${ref.tag}`).digest('hex')}`;
}

/** What the fake pretends its guest uses. */
const FAKE_USED_MB = 48;

export class FakeDriver implements VmmDriver {
  readonly name = 'fake';
  readonly delays: FakeDelays;
  readonly host: FakeHost;
  private readonly vms: FakeVms;
  private readonly prepared: Set<string>;
  private readonly consoles: Map<string, string[]>;
  private readonly failures = new Map<FakeOperation, string[]>();
  private readonly listeners: Array<(machineId: string, exit: ExitInfo) => void> = [];
  /** What each machine's sandbox agent was told at its control socket's `/init`, by machine id. */
  readonly agentInits = new Map<string, string>();
  /** Tags moved (moveTag): the digest each now names, by the digest it first made up. */
  private readonly moved = new Map<string, string>();
  /** What a sandbox agent's `-metrics` prints (src/guest/envd/metrics.go): one sample now, unless a test says otherwise. */
  agentMetrics = (_machineId: string): string => JSON.stringify({
    now: Date.now(), samples: [{ ts: Date.now(), cpuCount: 1, cpuUsedPct: 1.5, memUsed: 50 << 20, memTotal: 256 << 20, memCache: 10 << 20, diskUsed: 1 << 20, diskTotal: 8 << 20 }],
  });
  private readonly suspending = new Map<string, { cancelled: boolean }>();
  private readonly refusedResumes: string[] = [];
  /** Where each machine's snapshot was last packed (a temporary directory). */
  private readonly parcels = new Map<string, string>();
  private guestApi: GuestApiListener | undefined;
  /** The latest calls (up to MAX_CALLS), in order, for tests to assert on. */
  readonly calls: Array<{ op: string; machineId: string; detail?: unknown }> = [];

  constructor(delays: Partial<FakeDelays> = {}, host = new FakeHost()) {
    this.delays = { prepareMs: 0, bootMs: 0, resumeMs: 0, stopMs: 0, suspendMs: 0, destroyMs: 0, ...delays };
    this.host = host;
    this.vms = host.vms;
    this.prepared = host.prepared;
    this.consoles = host.consoles;
  }

  /** Makes the next call of `op` fail with `reason`. */
  failNext(op: FakeOperation, reason = `injected ${op} failure`): void {
    const queue = this.failures.get(op) ?? [];
    queue.push(reason);
    this.failures.set(op, queue);
  }

  /** Ends a running machine's main process as if it exited by itself (or was ended by `signal`). */
  exitMachine(machineId: string, exitCode: number, oomKilled = false, signal?: number): void {
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    this.vms.delete(machineId);
    const exit: ExitInfo = { exitCode, oomKilled, pid: vm.pid, ...(signal === undefined ? {} : { signal }) };
    for (const listener of this.listeners) listener(machineId, exit);
  }

  /** Makes the next resume refuse to begin (as for lack of disk space), keeping the snapshot. */
  refuseNextResume(reason: string): void {
    this.refusedResumes.push(reason);
  }

  /** Leaves a running machine's VM there but not running (a paused or hung VMM), as the watchdog would find it. */
  freezeMachine(machineId: string, reason: string): void {
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    vm.frozen = reason;
  }

  /** Ends a running machine's VMM as if it died (killed, crashed): an exit of the VMM, not of the app. */
  crashVmm(machineId: string, reason: string): void {
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    this.vms.delete(machineId);
    for (const listener of this.listeners) listener(machineId, { exitCode: 255, oomKilled: false, pid: vm.pid, vmm: { reason, log: [`fake: ${reason}`] } });
  }

  vmState(machineId: string): 'running' | 'suspended' | 'absent' {
    return this.vms.get(machineId)?.state ?? 'absent';
  }

  /** Whether a prepare left state for the machine that no destroy has removed. */
  hasPrepared(machineId: string): boolean {
    return this.prepared.has(machineId);
  }

  private record(op: string, machineId: string, detail?: unknown): void {
    this.calls.push({ op, machineId, detail });
    if (this.calls.length > MAX_CALLS) this.calls.splice(0, this.calls.length - MAX_CALLS);
  }

  /** Records the call and takes `ms`; `signal` cuts the wait short with its reason. */
  private async step(op: FakeOperation, machineId: string, ms: number, detail?: unknown, signal?: AbortSignal): Promise<void> {
    this.record(op, machineId, detail);
    // The sleep rejects only when the signal aborts; the reason is the signal's.
    if (ms > 0) await sleep(ms, undefined, { signal }).catch(() => undefined);
    signal?.throwIfAborted();
    const reason = this.failures.get(op)?.shift();
    if (reason !== undefined) throw new Error(reason);
  }

  private checkImage(reference: string): void {
    if (this.host.missingImages.has(reference)) throw new Error(`fake: image not found: ${reference}`);
  }

  async prepare(spec: MachineSpec, signal?: AbortSignal): Promise<{ imageRef: ImageRef }> {
    await this.step('prepare', spec.machineId, this.delays.prepareMs, spec.config.image, signal);
    this.checkImage(spec.config.image);
    this.prepared.add(spec.machineId);
    return { imageRef: { ...spec.imageRef, digest: spec.imageRef.digest || this.digestOf(spec.config.image) } };
  }

  /** The digest the fake makes up for an image reference. */
  digestOf(reference: string): string {
    const ref = parseImageRef(reference);
    return this.moved.get(fakeDigestOf(ref)) ?? fakeDigestOf(ref);
  }

  /** Points a tag at another (made-up) digest, as a push to a registry would: tests of what looks a tag up again. */
  moveTag(reference: string, digest: string): void {
    this.moved.set(fakeDigestOf(parseImageRef(reference)), digest);
  }

  /** Resolves the reference without fetching anything: the fake has no images. */
  async pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef> {
    await this.step('pull', '', this.delays.prepareMs, reference);
    this.checkImage(reference);
    const ref = parseImageRef(reference);
    const digest = ref.digest || this.digestOf(reference);
    onProgress({ status: 'cached', digest });
    return { ...ref, digest };
  }

  async launch(spec: MachineSpec, options: { resume: boolean }): Promise<LaunchResult> {
    const existing = this.vms.get(spec.machineId);
    // A cancelled suspend left the VM running.
    if (options.resume && existing?.state === 'running') return { resumed: true, pid: existing.pid, suspendCancelled: true };
    const resumable = options.resume && existing?.state === 'suspended';
    if (resumable) {
      const refused = this.refusedResumes.shift();
      if (refused !== undefined) throw new ResumeRefused(refused);
      await this.step('resume', spec.machineId, this.delays.resumeMs);
      failpoint('resume.after-qemu-start');
      existing.state = 'running';
      this.host.vms.note(spec.machineId);
      return { resumed: true, pid: existing.pid };
    }
    await this.step('launch', spec.machineId, this.delays.bootMs, spec.version);
    failpoint('boot.after-qemu-start');
    const coldBootReason = options.resume ? 'the machine has no snapshot' : undefined;
    // A cold boot starts from a blank root filesystem, as on Fly.
    const vm: FakeVm = {
      spec, state: 'running', pid: this.host.nextPid++, bootCount: (existing?.bootCount ?? 0) + 1, limitMb: spec.config.guest.memory_mb, files: new Set(),
    };
    const console = this.consoles.get(spec.machineId) ?? [];
    console.push(`fake: booted ${spec.config.image} (version ${spec.version}, boot ${vm.bootCount})`);
    this.consoles.set(spec.machineId, console);
    this.vms.set(spec.machineId, vm);
    return coldBootReason ? { resumed: false, pid: vm.pid, coldBootReason } : { resumed: false, pid: vm.pid };
  }

  async stop(machineId: string, signal: SignalName, timeoutMs: number): Promise<ExitInfo | null> {
    await this.step('stop', machineId, this.delays.stopMs, { signal, timeoutMs });
    const vm = this.vms.get(machineId);
    if (!vm || vm.state !== 'running') return null;
    this.vms.delete(machineId);
    return signal === 'SIGKILL' ? { exitCode: 137, oomKilled: false, signal: signalNumber(signal) } : { exitCode: 0, oomKilled: false };
  }

  async suspend(machineId: string): Promise<void> {
    const cancel = { cancelled: false };
    this.suspending.set(machineId, cancel);
    try {
      await this.step('suspend', machineId, this.delays.suspendMs);
    } finally {
      this.suspending.delete(machineId);
    }
    const vm = this.vms.get(machineId);
    if (!vm || vm.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    if (cancel.cancelled) throw new Error('suspend cancelled by a start');
    failpoint('suspend.after-stop');
    vm.state = 'suspended';
    this.host.vms.note(machineId);
  }

  /** Each child gets the parent's guest (its files) as a snapshot to resume; the parent runs on. */
  async fork(parentId: string, children: MachineSpec[]): Promise<void> {
    const parent = this.running(parentId);
    await this.step('fork', parentId, this.delays.suspendMs, children.map((child) => child.machineId));
    for (const child of children) {
      this.vms.set(child.machineId, {
        spec: child, state: 'suspended', pid: this.host.nextPid++, bootCount: 1, limitMb: parent.limitMb, files: new Set(parent.files),
      });
      this.prepared.add(child.machineId);
    }
  }

  onGuestApi(listener: GuestApiListener): void {
    this.guestApi = listener;
  }

  /** Connects to a running machine's `/.fly/api` as a process inside it would; returns the client's end. */
  connectGuestApi(machineId: string): Duplex {
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'running' || !this.guestApi) throw new Error(`fake: ${machineId} has no /.fly/api`);
    const [client, served] = duplexPair();
    this.guestApi({ appName: vm.spec.appName, machineId }, served);
    return client;
  }

  cancelSuspend(machineId: string): void {
    this.record('cancel_suspend', machineId);
    const attempt = this.suspending.get(machineId);
    if (attempt) attempt.cancelled = true;
  }

  async discardSnapshot(machineId: string): Promise<void> {
    this.record('discard_snapshot', machineId);
    if (this.vms.get(machineId)?.state === 'suspended') this.vms.delete(machineId);
  }

  /** The pretend snapshot is one file: the guest's files and boot count, carried as the real RAM would be. */
  async packSnapshot(machineId: string): Promise<Map<string, PackedFile>> {
    await this.step('pack_snapshot', machineId, 0);
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'suspended') throw new Error(`machine ${machineId} has no whole snapshot on this host`);
    // One per machine, gone with it (destroy).
    rmSync(this.parcels.get(machineId) ?? '', { recursive: true, force: true });
    mkdirSync(this.host.parcelsDir, { recursive: true });
    const dir = mkdtempSync(join(this.host.parcelsDir, `${machineId}-`));
    this.parcels.set(machineId, dir);
    const path = join(dir, 'guest.json');
    writeFileSync(path, JSON.stringify({ version: vm.spec.version, bootCount: vm.bootCount, limitMb: vm.limitMb, files: [...vm.files] }));
    return new Map([['guest.json', { path }]]);
  }

  /** Nothing to ready: a fake resume takes no time it could save. */
  async readyToResume(spec: MachineSpec): Promise<void> {
    this.record('ready_to_resume', spec.machineId);
  }

  async unpackSnapshot(spec: MachineSpec, received: Map<string, string>): Promise<void> {
    await this.step('unpack_snapshot', spec.machineId, this.delays.prepareMs);
    const path = received.get('guest.json');
    if (!path) throw new Error('the snapshot received lacks guest.json');
    if (this.vms.get(spec.machineId)) throw new Error(`machine ${spec.machineId} has a VM on this host already`);
    const guest = JSON.parse(readFileSync(path, 'utf8')) as { version: string; bootCount: number; limitMb: number; files: string[] };
    // As the qemu driver's, a snapshot of another version is not resumed.
    if (guest.version !== spec.version) return;
    this.vms.set(spec.machineId, { spec, state: 'suspended', pid: this.host.nextPid++, bootCount: guest.bootCount, limitMb: guest.limitMb, files: new Set(guest.files) });
    this.prepared.add(spec.machineId);
  }

  async destroy(machineId: string): Promise<void> {
    rmSync(this.parcels.get(machineId) ?? '', { recursive: true, force: true });
    this.parcels.delete(machineId);
    await this.step('destroy', machineId, this.delays.destroyMs);
    this.vms.delete(machineId);
    failpoint('destroy.after-kill');
    this.prepared.delete(machineId);
  }

  async inspect(machineId: string): Promise<VmCheck> {
    this.record('inspect', machineId);
    const vm = this.vms.get(machineId);
    if (vm?.state === 'running' && vm.frozen === undefined) return { running: true };
    return { running: false, vmm: { reason: vm?.frozen ?? 'fake: the VM is not running', log: [] } };
  }

  async kill(machineId: string): Promise<void> {
    this.record('kill', machineId);
    this.vms.delete(machineId);
  }

  async signal(machineId: string, { signal }: { signal: SignalName }): Promise<void> {
    this.record('signal', machineId, signal);
    if (this.vms.get(machineId)?.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    if (signal === 'SIGKILL') {
      // The main process dies: the machine exits as it would on a real VM.
      queueMicrotask(() => this.vms.has(machineId) && this.exitMachine(machineId, 137, false, signalNumber('SIGKILL')));
    }
  }

  async exec(machineId: string, request: ExecRequest): Promise<ExecResult> {
    await this.step('exec', machineId, 0, request.command);
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    return runCommand(vm, request, this);
  }

  async ps(machineId: string): Promise<ProcessInfo[]> {
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    const command = [...(vm.spec.config.init.exec ?? vm.spec.config.init.cmd ?? ['/app'])].join(' ');
    return [{ pid: 1, command: 'hangar-init', cpu: 0, rss: 1024, rtime: 0, stime: 0, directory: '/', listen_sockets: [] },
      { pid: vm.pid, command, cpu: 0, rss: 4096, rtime: 0, stime: 0, directory: '/', listen_sockets: [] }];
  }

  private running(machineId: string): FakeVm {
    const vm = this.vms.get(machineId);
    if (vm?.state !== 'running') throw new Error(`fake: ${machineId} is not running`);
    return vm;
  }

  async memory(machineId: string): Promise<MemoryInfo> {
    const vm = this.running(machineId);
    return { limit_mb: vm.limitMb, available_mb: vm.limitMb - FAKE_USED_MB };
  }

  async setMemoryLimit(machineId: string, { limitMb }: { limitMb: number }): Promise<MemoryInfo> {
    const vm = this.running(machineId);
    vm.limitMb = limitMb;
    return this.memory(machineId);
  }

  async reclaimMemory(machineId: string, { amountMb }: { amountMb: number }): Promise<{ reclaimedMb: number }> {
    const vm = this.running(machineId);
    const reclaimedMb = Math.min(amountMb, vm.limitMb - FAKE_USED_MB);
    vm.limitMb -= reclaimedMb;
    return { reclaimedMb };
  }

  /** The fake's console: one line per boot, kept in memory. */
  async *logs(machineId: string, request: LogRequest, signal: AbortSignal): AsyncIterable<string> {
    const lines = this.consoles.get(machineId) ?? [];
    for (const line of lastLines(lines, request.tail)) yield line;
    let seen = lines.length;
    while (request.follow && !signal.aborted) {
      await sleep(50);
      const now = this.consoles.get(machineId) ?? [];
      for (const line of now.slice(seen)) yield line;
      seen = now.length;
    }
  }

  onExit(listener: (machineId: string, exit: ExitInfo) => void): void {
    this.listeners.push(listener);
  }

  /** Finds the VMs its host holds (a driver opened on the same `FakeHost` finds those of the one before). */
  async recover(specs: MachineSpec[]): Promise<Map<string, RecoveredVm>> {
    return new Map(specs.map((spec) => {
      const vm = this.vms.get(spec.machineId);
      const found: RecoveredVm = vm ? { vm: vm.state, version: vm.spec.version } : { vm: 'absent' };
      return [spec.machineId, found];
    }));
  }

  async held(): Promise<string[]> {
    return [...new Set([...this.vms.keys(), ...this.prepared])];
  }

  /** Lets go of the VMs without stopping them: they stay on the host for the next driver. */
  async close(): Promise<void> {
    this.suspending.clear();
  }
}
