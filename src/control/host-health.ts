/**
 * What an API replica knows of each host's health, for `host_status` on machines
 * and volumes: `ok` while its heartbeat is fresh, `unreachable` once it is stale,
 * `unknown` for a host it has not heard of. Read from the database every few
 * seconds, so answering a request costs nothing.
 */
import { hostIsFresh } from '../domain/host.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from './ports.ts';

export type HostStatus = 'ok' | 'unknown' | 'unreachable';

/** How often the hosts' heartbeats are read again. */
const REFRESH_MS = 2_000;

export class HostHealth {
  private readonly store: Store;
  private readonly clock: Clock;
  private hosts = new Map<string, { heartbeatAt: number }>();

  constructor(store: Store, clock: Clock) {
    this.store = store;
    this.clock = clock;
  }

  statusOf(hostId: string | undefined): HostStatus {
    const host = hostId === undefined ? undefined : this.hosts.get(hostId);
    if (!host) return 'unknown';
    return hostIsFresh(host, this.clock.now()) ? 'ok' : 'unreachable';
  }

  async refresh(): Promise<void> {
    const usage = await this.store.listHostUsage();
    this.hosts = new Map(usage.map(({ host }) => [host.id, { heartbeatAt: host.heartbeatAt }]));
  }

  /** Reads now and then every REFRESH_MS; answers the function that stops it. */
  async start(onError: (error: unknown) => void): Promise<() => void> {
    await this.refresh();
    const timer = setInterval(() => this.refresh().catch(onError), REFRESH_MS);
    timer.unref();
    return () => clearInterval(timer);
  }
}
