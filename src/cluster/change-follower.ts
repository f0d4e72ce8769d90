/**
 * Keeps a process's feed of machine changes (what its in-memory views follow)
 * current with the commits of every process of the cluster, not only its own. It
 * reads the changes from its horizon in the commit order (see ChangeLog) when a
 * commit is announced, when announcements may have been missed, and every few
 * seconds whatever happens: a lost announcement delays a change, never loses it.
 * Reads are at most a few a second, however many commits are announced.
 */
import type { Logger } from 'pino';
import type { MachineFeed } from '../control/machine-feed.ts';
import type { ClusterLink } from '../store/link.ts';
import type { ChangeLog } from '../store/store.ts';

/** The least time between two reads, and the longest without one. */
const MIN_GAP_MS = 200;
const BACKSTOP_MS = 5_000;

export class ChangeFollower {
  private readonly changes: ChangeLog;
  private readonly feed: MachineFeed;
  private readonly log: Logger;
  private horizon: string;
  private reading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;

  private constructor(changes: ChangeLog, feed: MachineFeed, log: Logger, horizon: string) {
    this.changes = changes;
    this.feed = feed;
    this.log = log;
    this.horizon = horizon;
  }

  /**
   * Starts from the horizon now: whoever follows the feed loads the machines after
   * this resolves, and every change from here on comes through the feed. With
   * `hostId`, only the announcements of that host's machines wake it: a host's
   * role reads only its own machines, so no other commit could bring it one.
   */
  static async start(changes: ChangeLog, link: ClusterLink, feed: MachineFeed, log: Logger, hostId?: string): Promise<ChangeFollower> {
    const follower = new ChangeFollower(changes, feed, log, await changes.horizon());
    link.onMachineChanged(() => follower.read(), hostId);
    link.onMissedChanges(() => follower.read());
    follower.timer = setInterval(() => follower.read(), BACKSTOP_MS);
    follower.timer.unref();
    return follower;
  }

  /** Reads the changes from the horizon now, or right after the read under way. */
  read(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
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
    await this.reading;
  }

  private async catchUp(): Promise<void> {
    try {
      const { machines, horizon } = await this.changes.since(this.horizon);
      for (const machine of machines) this.feed.publish(machine);
      this.horizon = horizon;
      if (this.failing) this.log.info('reading machine changes again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.log.warn({ err: error }, 'could not read machine changes; trying again');
      this.failing = true;
    }
  }
}
