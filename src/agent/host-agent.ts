/**
 * The host agent: carries out the control plane's effects on a VMM driver, one
 * serialized worker per machine, and reports each outcome as an observation.
 * Exits nobody asked for reach the control plane the same way.
 */
import type { Logger } from 'pino';
import type { Effect } from '../domain/lifecycle/decision.ts';
import type { Observation } from '../domain/lifecycle/observations.ts';
import type { LocalRuntime, MachineSpec, ObservationSink, PullProgress, RecoveredVm, PackedFile, SnapshotParcels } from '../domain/runtime.ts';
import { errorMessage } from '../domain/errors.ts';
import type { GuestOps } from '../domain/guest-ops.ts';
import type { ImageRef } from '../domain/image-ref.ts';
import { failpoint } from '../system/failpoints.ts';
import { ResumeRefused, type VmmDriver } from '../vmm/driver.ts';

/** How long an image pull and rootfs build may take before it is abandoned (the driver's prepare is aborted). */
const PREPARE_TIMEOUT_MS = 15 * 60_000;

export class HostAgent implements LocalRuntime, SnapshotParcels {
  private readonly driver: VmmDriver;
  /** The driver's own: a guest operation waits for no effect in the machine's queue. */
  readonly guest: GuestOps;
  private readonly sink: ObservationSink;
  private readonly log: Logger;
  private readonly queues = new Map<string, Promise<void>>();
  /** Machines this agent was given work for or recovered: its own, as far as it knows without the database. */
  private readonly machines = new Set<string>();
  /** Exits the driver reported that wait in their machine's queue, per machine. */
  private readonly exitsQueued = new Map<string, number>();
  private readonly secretsOf: ((appName: string) => Promise<Map<string, string>>) | undefined;

  /**
   * `secretsOf`: the app's secrets, opened, for a machine that boots (absent: none).
   */
  constructor(driver: VmmDriver, sink: ObservationSink, log: Logger, secretsOf?: (appName: string) => Promise<Map<string, string>>) {
    this.secretsOf = secretsOf;
    this.driver = driver;
    this.guest = driver;
    this.sink = sink;
    this.log = log;
    driver.onExit((machineId, exit) => {
      this.exitsQueued.set(machineId, (this.exitsQueued.get(machineId) ?? 0) + 1);
      this.enqueue(machineId, async () => {
        try {
          await this.report(machineId, { kind: 'exited', ...exit, requested: false });
        } finally {
          const left = (this.exitsQueued.get(machineId) ?? 1) - 1;
          if (left > 0) this.exitsQueued.set(machineId, left);
          else this.exitsQueued.delete(machineId);
        }
      });
    });
  }

  submit(spec: MachineSpec, effects: Effect[]): Promise<void> {
    this.machines.add(spec.machineId);
    let last: Promise<void> = Promise.resolve();
    for (const effect of effects) {
      // A cancel must reach the suspend it cancels, which is still running in the queue.
      if (effect.kind === 'cancel_suspend') this.driver.cancelSuspend(spec.machineId);
      else last = this.enqueue(spec.machineId, () => this.run(spec, effect));
    }
    return last;
  }

  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef> {
    return this.driver.pullImage(reference, onProgress);
  }

  /** Runs in the parent's queue, so no suspend or stop of it overlaps the save. */
  fork(parent: MachineSpec, children: MachineSpec[]): Promise<void> {
    for (const child of children) this.machines.add(child.machineId);
    return this.inQueue(parent.machineId, () => this.driver.fork(parent.machineId, children));
  }

  /** In the machine's queue: no start of it overlaps the packing. */
  packSnapshot(machineId: string): Promise<Map<string, PackedFile>> {
    return this.inQueue(machineId, () => this.driver.packSnapshot(machineId));
  }

  /**
   * Queued at once, in the machine's queue: a start queued after it waits for it, and
   * then takes what it readied. Never fails: a failure is said, and the resume only
   * takes longer.
   */
  readyToResume(spec: MachineSpec): Promise<void> {
    return this.inQueue(spec.machineId, async () => {
      await this.attempt(spec.machineId, 'readying a moved machine\'s resume', () => this.driver.readyToResume(spec));
    });
  }

  unpackSnapshot(spec: MachineSpec, received: Map<string, string>): Promise<void> {
    return this.inQueue(spec.machineId, () => this.driver.unpackSnapshot(spec, received));
  }

  recover(specs: MachineSpec[]): Promise<Map<string, RecoveredVm>> {
    for (const spec of specs) this.machines.add(spec.machineId);
    return this.driver.recover(specs);
  }

  /**
   * Ends the VM of every machine this agent runs or ran, as soon as each one's
   * queued work is done: its host is held by another instance now.
   */
  async endAll(): Promise<void> {
    const ending = [...this.machines].map((machineId) => new Promise<void>((resolve) => {
      this.enqueue(machineId, async () => {
        await this.attempt(machineId, 'end the VM', () => this.driver.kill(machineId));
        resolve();
      });
    }));
    await Promise.all(ending);
  }

  held(): Promise<string[]> {
    return this.driver.held();
  }

  discard(machineId: string): Promise<void> {
    return new Promise((resolve) => {
      this.enqueue(machineId, async () => {
        await this.attempt(machineId, 'discard the machine', () => this.driver.destroy(machineId));
        this.machines.delete(machineId);
        resolve();
      });
    });
  }

  /** Whether this agent runs (or ran) machine `machineId`. */
  runs(machineId: string): boolean {
    return this.machines.has(machineId);
  }

  /**
   * Ends and reports a started machine's VM that does not run. One whose end the
   * driver reports itself (seen, or queued here) is left to that report: reported
   * twice, one exit would restart the machine twice, and "not running" would stand
   * in for the app's own exit code.
   */
  checkVm(spec: MachineSpec): void {
    this.enqueue(spec.machineId, async () => {
      const check = await this.driver.inspect(spec.machineId);
      if (check.running || check.reporting === true || this.exitsQueued.has(spec.machineId)) return;
      this.log.warn({ machineId: spec.machineId, reason: check.vmm.reason }, 'host agent: the VM of a started machine is not running; ending it');
      await this.driver.kill(spec.machineId);
      await this.report(spec.machineId, { kind: 'vm_failed', vmm: check.vmm });
    });
  }

  /** Runs `work` in the machine's queue; settles as it does. */
  private inQueue<T>(machineId: string, work: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.enqueue(machineId, () => work().then(resolve, reject));
    });
  }

  /** Chains work onto the machine's queue so its effects never overlap; resolves once it has run (never rejects). */
  private enqueue(machineId: string, work: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(machineId) ?? Promise.resolve();
    const next = previous.then(work).catch((error: unknown) => {
      this.log.error({ machineId, err: error }, 'host agent: unexpected failure');
    });
    this.queues.set(machineId, next);
    void next.then(() => {
      if (this.queues.get(machineId) === next) this.queues.delete(machineId);
    });
    return next;
  }

  private async report(machineId: string, observation: Observation): Promise<void> {
    await this.sink.observe(machineId, observation);
  }

  private async run(spec: MachineSpec, effect: Effect): Promise<void> {
    const id = spec.machineId;
    this.log.debug({ machineId: id, effect: effect.kind }, 'host agent: effect');
    switch (effect.kind) {
      case 'prepare':
        await this.prepare(spec);
        return;
      case 'launch':
        return this.launch(spec, effect.resume, undefined, effect.coldBootReason);
      case 'stop': {
        const exit = await this.attempt(id, 'stop', () => this.driver.stop(id, effect.signal, effect.timeoutMs));
        return this.report(id, { kind: 'exited', exitCode: exit?.exitCode ?? 0, oomKilled: exit?.oomKilled ?? false, signal: exit?.signal, requested: true });
      }
      case 'restart':
        await this.attempt(id, 'stop', () => this.driver.stop(id, effect.signal, effect.timeoutMs));
        return this.launch(spec, false);
      case 'replace': {
        // The new version is prepared while the old VM runs: if that fails, the old VM runs on.
        const prepared = await this.prepare(spec, true);
        if (!prepared) return;
        await this.attempt(id, 'stop', () => this.driver.stop(id, effect.signal, effect.timeoutMs));
        return this.launch(spec, false, prepared.imageRef);
      }
      case 'suspend':
        try {
          await this.driver.suspend(id);
          failpoint('suspend.before-report');
          return this.report(id, { kind: 'suspended' });
        } catch (error) {
          // The driver left the VM running if it could, and ended it if not: QEMU says which.
          const running = (await this.driver.inspect(id)).running;
          return this.report(id, { kind: 'suspend_failed', reason: errorMessage(error), stillRunning: running });
        }
      case 'cancel_suspend':
        return; // handled in submit
      case 'discard_snapshot':
        await this.attempt(id, 'discard snapshot', () => this.driver.discardSnapshot(id));
        return;
      case 'destroy':
        try {
          await this.driver.destroy(id);
          failpoint('destroy.before-report');
          return this.report(id, { kind: 'destroyed' });
        } catch (error) {
          // Left in `destroying`: the watchdog flags it as wedged after Fly's threshold.
          this.log.error({ machineId: id, err: error }, 'host agent: destroy failed');
          return;
        }
    }
  }

  /** Prepares; reports `prepared` unless `quiet`. Returns the resolved image, or undefined if it failed. */
  private async prepare(spec: MachineSpec, quiet = false): Promise<{ imageRef: ImageRef } | undefined> {
    // A timer of our own, cleared when the prepare ends, so none lingers per machine.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`image preparation timed out after ${PREPARE_TIMEOUT_MS / 60_000} minutes`)), PREPARE_TIMEOUT_MS);
    try {
      const { imageRef } = await this.driver.prepare(spec, controller.signal);
      failpoint('create.after-prepare');
      if (!quiet) await this.report(spec.machineId, { kind: 'prepared', imageRef });
      return { imageRef };
    } catch (error) {
      await this.report(spec.machineId, { kind: 'prepare_failed', reason: errorMessage(error) });
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `coldBootReason`: why this boot is cold although the machine was resuming (found at recovery). */
  private async launch(spec: MachineSpec, resume: boolean, imageRef?: ImageRef, coldBootReason?: string): Promise<void> {
    try {
      // Read at each launch, so that a boot gets the secrets as they are then; a resume may fall back to a boot.
      const secrets = await this.secretsOf?.(spec.appName);
      const result = await this.driver.launch(secrets?.size ? { ...spec, secrets: Object.fromEntries(secrets) } : spec, { resume });
      failpoint(result.resumed ? 'resume.before-report' : 'boot.before-report');
      const reason = result.coldBootReason ?? (result.resumed ? undefined : coldBootReason);
      await this.report(spec.machineId, { kind: 'running', ...result, ...(reason ? { coldBootReason: reason } : {}), ...(imageRef ? { imageRef } : {}) });
    } catch (error) {
      const snapshotKept = error instanceof ResumeRefused;
      await this.report(spec.machineId, { kind: 'launch_failed', reason: errorMessage(error), ...(snapshotKept ? { snapshotKept } : {}) });
    }
  }

  private async attempt<T>(machineId: string, what: string, work: () => Promise<T>): Promise<T | null> {
    try {
      return await work();
    } catch (error) {
      this.log.warn({ machineId, err: error }, `host agent: ${what} failed`);
      return null;
    }
  }
}
