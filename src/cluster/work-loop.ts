/**
 * A host agent drains its outbox: claim, run, acknowledge. It reads the work
 * queued for its host (fenced by its epoch) at start, whenever a hint says work
 * arrived, and every `pollMs` in case a hint was lost; hands each piece to the
 * agent, which runs each machine's effects one after another; and removes a piece
 * from the queue once it has run. Reading takes nothing away, so a read whose
 * answer is lost loses no work; a piece run but not yet acknowledged when the
 * agent dies is read again by the next session of the host, where recovery
 * decides it (below).
 *
 * Work its recovery already finished is dropped: recovery read each machine at
 * some revision and finished what that state said was under way, so work a commit
 * queued at that revision or before is moot; work committed after the read is not.
 */
import type { Logger } from 'pino';
import type { Effect } from '../domain/lifecycle/decision.ts';
import type { MachineSpec } from '../domain/runtime.ts';
import type { HostFence, QueuedWork, Store } from '../store/store.ts';
import type { WorkCheck } from './work-check.ts';

const BATCH = 50;
/**
 * Acknowledgements go out with the next read of the queue (one statement for
 * both), or on their own once they have waited this long.
 */
const ACK_MS = 250;

/** What runs the work: the host agent. Resolves once the effects have run (whatever came of them). */
export interface WorkRunner {
  submit(spec: MachineSpec, effects: Effect[]): Promise<void>;
}

export interface DrainOptions {
  /** The revision at which recovery read each machine it finished. */
  recovered?: ReadonlyMap<string, number>;
  pollMs?: number;
  /** Why a piece must not run (it is acknowledged unrun), or undefined (see work-check.ts). */
  check?: WorkCheck;
}

export class WorkDrain {
  private readonly queue: Pick<Store, 'claimWork' | 'ackWork'>;
  private readonly host: HostFence;
  private readonly runner: WorkRunner;
  private readonly log: Logger;
  private readonly recovered: ReadonlyMap<string, number>;
  private readonly pollMs: number;
  private readonly check: WorkCheck | undefined;
  /** Pieces read this session and not yet acknowledged: the next read skips them. */
  private readonly taken = new Set<number>();
  private draining: Promise<void> | undefined;
  private again = false;
  /** No more work is taken once stopping; nothing is sent once stopped. */
  private stopping = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();
  private readonly done: number[] = [];
  private acking: Promise<void> | undefined;
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(queue: Pick<Store, 'claimWork' | 'ackWork'>, host: HostFence, runner: WorkRunner, log: Logger, options: DrainOptions = {}) {
    this.queue = queue;
    this.host = host;
    this.runner = runner;
    this.log = log;
    this.recovered = options.recovered ?? new Map();
    this.pollMs = options.pollMs ?? 1_000;
    this.check = options.check;
  }

  get hostId(): string {
    return this.host.hostId;
  }

  /** Whether anything is being read, run or acknowledged. */
  busy(): boolean {
    return !this.stopped && (this.draining !== undefined || this.running.size > 0 || this.acking !== undefined || this.done.length > 0);
  }

  /** Drains now and every `pollMs` until stopped. */
  start(): void {
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Work may have arrived: read the queue (again, once the read under way ends). */
  kick(): void {
    if (this.stopping) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drain().finally(() => { this.draining = undefined; });
  }

  /** Resolves once nothing is being read, run or acknowledged (an acknowledgement the store refuses is left for later). */
  async idle(): Promise<void> {
    while (!this.stopped && (this.draining || this.running.size > 0 || this.acking || this.done.length > 0)) {
      await this.draining;
      await Promise.all([...this.running]);
      if (!await this.flushAcks()) return;
    }
  }

  /**
   * Takes no more work, and sends the acknowledgements waiting (once; a refused one
   * is left to the next session, as is that of what still runs in the agent), so
   * that a session that ends leaves no work it finished to be run again.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    clearTimeout(this.ackTimer);
    await this.flushAcks();
    this.stopped = true;
  }

  private async drain(): Promise<void> {
    try {
      do {
        this.again = false;
        // A batch short of full emptied the queue: more only comes with a new hint.
        for (let more = true; more && !this.stopping;) {
          const batch = await this.claim();
          for (const work of batch) await this.take(work);
          more = batch.length === BATCH;
        }
      } while (this.again && !this.stopping);
    } catch (error) {
      this.log.warn({ err: error, hostId: this.host.hostId }, 'host agent: could not read its work queue; trying again');
    }
  }

  /** Reads the queue, acknowledging what is done in the same statement (unless an acknowledgement is out). */
  private async claim(): Promise<QueuedWork[]> {
    const acks = this.acking ? [] : this.done.splice(0);
    try {
      const batch = await this.queue.claimWork(this.host, [...this.taken], BATCH, acks);
      for (const id of acks) this.taken.delete(id);
      return batch;
    } catch (error) {
      this.done.push(...acks);
      throw error;
    }
  }

  private async take(work: QueuedWork): Promise<void> {
    if (this.taken.has(work.id)) return;
    const read = this.recovered.get(work.spec.machineId);
    // Work queued before revisions were recorded (no `rev`) predates any recovery.
    if (read !== undefined && (work.rev ?? 0) <= read) {
      this.taken.add(work.id);
      this.acknowledge(work.id);
      return;
    }
    // A check that cannot read the records throws: the piece stays untaken, for the next read.
    const refused = await this.check?.(work);
    this.taken.add(work.id);
    if (refused !== undefined) {
      this.log.error({ hostId: this.host.hostId, workId: work.id, machineId: work.spec.machineId, why: refused }, `host agent: refused queued work: ${refused}`);
      this.acknowledge(work.id);
      return;
    }
    const run = this.runner.submit(work.spec, work.effects).then(() => {
      this.running.delete(run);
      this.acknowledge(work.id);
    });
    this.running.add(run);
  }

  private acknowledge(id: number): void {
    this.done.push(id);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      void this.flushAcks();
    }, ACK_MS);
  }

  /** Sends the acknowledgements waiting; false when the store refused them (kept for later). */
  private async flushAcks(): Promise<boolean> {
    while (this.acking) await this.acking;
    const ids = this.done.splice(0);
    if (ids.length === 0 || this.stopped) return true;
    let sent = true;
    this.acking = this.queue.ackWork(this.host, ids).then(() => {
      for (const id of ids) this.taken.delete(id);
    }, (error: unknown) => {
      sent = false;
      // Kept for the next flush; a piece never acknowledged is read again by the next session, and found moot.
      this.done.push(...ids);
      this.log.warn({ err: error, hostId: this.host.hostId }, 'host agent: could not acknowledge work done; trying again');
      this.ackTimer ??= setTimeout(() => {
        this.ackTimer = undefined;
        void this.flushAcks();
      }, this.pollMs).unref();
    }).finally(() => { this.acking = undefined; });
    await this.acking;
    return sent;
  }
}
