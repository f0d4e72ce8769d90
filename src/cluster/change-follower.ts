/**
 * Keeps a process's feed of machine changes (what its in-memory views follow)
 * current with the commits of every process of the cluster, not only its own. It
 * reads the changes from its horizon in the commit order (see ChangeLog) when a
 * commit is announced, when announcements may have been missed, and every few
 * seconds whatever happens: a lost announcement delays a change, never loses it.
 * Announcements heard during a read bring one read a moment after it, and a
 * follower given a least gap between reads (`minGapMs`) reads at most that often,
 * however many commits are announced: the announcements heard within the gap bring
 * one read at its end, and an announcement after a quiet spell is read at once.
 */
import type { Logger } from 'pino';
import type { MachineFeed } from '../control/machine-feed.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { ClusterLink } from '../store/link.ts';
import type { ChangeLog } from '../store/store.ts';

/** What is followed: records changed between a horizon and the horizon now, in the commit order. */
export interface ChangeSource<T> {
  horizon(): Promise<string>;
  since(from: string): Promise<{ items: T[]; horizon: string }>;
}

/** A store's machine changes as a source. */
export function machineChanges(changes: ChangeLog): ChangeSource<MachineRecord> {
  return {
    horizon: () => changes.horizon(),
    since: async (from) => {
      const { machines, horizon } = await changes.since(from);
      return { items: machines, horizon };
    },
  };
}

/** Announcements heard during a read bring the next read this long after it ends. */
const MIN_GAP_MS = 200;
/** The longest time without a read, announced or not. */
const BACKSTOP_MS = 5_000;

export class ChangeFollower<T = MachineRecord> {
  private readonly changes: ChangeSource<T>;
  private readonly apply: (item: T) => void;
  /** What is followed, for the log. */
  private readonly what: string;
  private readonly log: Logger;
  private horizon: string;
  private reading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly minGapMs: number;
  /** When the last read began (performance.now()). */
  private lastRead = -Infinity;
  /** The read due when the least gap since the last one ends. */
  private waiting: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;

  private constructor(changes: ChangeSource<T>, apply: (item: T) => void, log: Logger, horizon: string, what: string, minGapMs: number) {
    this.what = what;
    this.minGapMs = minGapMs;
    this.changes = changes;
    this.apply = apply;
    this.log = log;
    this.horizon = horizon;
  }

  /**
   * Starts from the horizon now: whoever follows the feed loads the machines after
   * this resolves, and every change from here on comes through the feed. With
   * `hostId`, only the announcements of that host's machines wake it: a host's
   * role reads only its own machines, so no other commit could bring it one. An
   * announcement of a revision the feed has (this process's own commit, published
   * as it landed, or one read already) wakes nothing.
   */
  static async start(changes: ChangeLog, link: ClusterLink, feed: MachineFeed, log: Logger, hostId?: string): Promise<ChangeFollower> {
    return ChangeFollower.follow(machineChanges(changes), link, (machine) => feed.publish(machine), log,
      { hostId, known: (machineId, rev) => feed.knows(machineId, rev) });
  }

  /**
   * Follows any source of changes, handing each to `apply`, from the horizon now
   * (or `from`). Woken by the announcements of machines' commits (of `hostId`'s
   * machines only, with it), at most once per `minGapMs` (none by default), and
   * not by an announcement of what `known` says is had already.
   */
  static async follow<T>(changes: ChangeSource<T>, link: ClusterLink, apply: (item: T) => void, log: Logger,
    options: { hostId?: string; from?: string; what?: string; minGapMs?: number; known?: (machineId: string, rev: number) => boolean } = {}): Promise<ChangeFollower<T>> {
    const follower = new ChangeFollower(changes, apply, log, options.from ?? await changes.horizon(), options.what ?? 'machine changes', options.minGapMs ?? 0);
    const known = options.known;
    link.onMachineChanged((machineId, rev) => {
      if (known && rev !== undefined && known(machineId, rev)) return;
      follower.read();
    }, options.hostId);
    link.onMissedChanges(() => follower.read());
    follower.timer = setInterval(() => follower.read(), BACKSTOP_MS);
    follower.timer.unref();
    return follower;
  }

  /** Reads the changes from the horizon now, or right after the read under way. */
  read(): void {
    if (this.stopped || this.waiting) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    const wait = this.lastRead + this.minGapMs - performance.now();
    if (wait > 0) {
      this.waiting = setTimeout(() => {
        this.waiting = undefined;
        this.read();
      }, wait);
      this.waiting.unref();
      return;
    }
    this.lastRead = performance.now();
    this.reading = this.catchUp().finally(() => {
      this.reading = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        setTimeout(() => this.read(), MIN_GAP_MS).unref();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.waiting);
    await this.reading;
  }

  private async catchUp(): Promise<void> {
    try {
      const { items, horizon } = await this.changes.since(this.horizon);
      for (const item of items) this.apply(item);
      this.horizon = horizon;
      if (this.failing) this.log.info(`reading ${this.what} again`);
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.log.warn({ err: error }, `could not read ${this.what}; trying again`);
      this.failing = true;
    }
  }
}
