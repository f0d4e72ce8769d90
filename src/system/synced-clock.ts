/**
 * A clock that follows another's: the processes of a cluster judge leases, stamp
 * events and order what they write by the database's clock rather than each by
 * its own, so that a replica whose clock runs fast does not end leases early and a
 * host whose clock runs late does not write history out of order. The offset is
 * measured now and then (the remote reading is taken to be halfway through the
 * round trip, so it is good to about half of one); between readings this process's
 * own clock advances it.
 */
import type { Clock } from '../domain/ports.ts';

/** How often the offset is measured again. */
const REMEASURE_MS = 30_000;

export class SyncedClock implements Clock {
  private readonly readRemote: () => Promise<number>;
  private offset = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `readRemote` answers the other clock's now (unix ms). */
  constructor(readRemote: () => Promise<number>) {
    this.readRemote = readRemote;
  }

  now(): number {
    return Date.now() + this.offset;
  }

  /** How far the other clock is ahead of this process's (negative: behind), as last measured. */
  get offsetMs(): number {
    return this.offset;
  }

  /** Measures once (it must work once to start), then every REMEASURE_MS; `onError` hears of later failures. */
  async start(onError: (error: unknown) => void): Promise<void> {
    await this.measure();
    this.timer = setInterval(() => this.measure().catch(onError), REMEASURE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async measure(): Promise<void> {
    const sent = Date.now();
    const remote = await this.readRemote();
    const received = Date.now();
    this.offset = Math.round(remote - (sent + received) / 2);
  }
}
