/**
 * What an API replica knows of each host's health, for `host_status` on machines
 * and volumes: `ok` while its heartbeat is fresh, `unreachable` once it is stale
 * or the host is lost, `unknown` for a host it has not heard of. Read from the
 * database every few seconds (and at once when a host is declared lost), so
 * answering a request costs nothing; a heartbeat's age is judged as the database
 * read it, by its clock.
 */
import { hostIsFresh, type HostRecord } from '../domain/host.ts';
import type { Store } from '../store/store.ts';

export type HostStatus = 'ok' | 'unknown' | 'unreachable';

/** How often the hosts' heartbeats are read again. */
const REFRESH_MS = 2_000;

export class HostHealth {
  private readonly store: Store;
  private readonly freshMs: number;
  private hosts = new Map<string, Pick<HostRecord, 'silentMs' | 'state'>>();

  constructor(store: Store, freshMs: number) {
    this.store = store;
    this.freshMs = freshMs;
  }

  statusOf(hostId: string | undefined): HostStatus {
    const host = hostId === undefined ? undefined : this.hosts.get(hostId);
    if (!host) return 'unknown';
    return hostIsFresh(host, this.freshMs) ? 'ok' : 'unreachable';
  }

  async refresh(): Promise<void> {
    const usage = await this.store.listHostUsage();
    this.hosts = new Map(usage.map(({ host }) => [host.id, { silentMs: host.silentMs, state: host.state }]));
  }

  /** Whether any host known is unreachable now. */
  anyUnreachable(): boolean {
    return [...this.hosts.keys()].some((id) => this.statusOf(id) === 'unreachable');
  }

  /** Reads now and then every REFRESH_MS, calling `onRead` after each read; answers the function that stops it. */
  async start(onError: (error: unknown) => void, onRead: () => void = () => undefined): Promise<() => void> {
    await this.refresh();
    const timer = setInterval(() => this.refresh().then(onRead, onError), REFRESH_MS);
    timer.unref();
    return () => clearInterval(timer);
  }
}
