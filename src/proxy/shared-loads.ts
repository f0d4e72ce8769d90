/**
 * A cluster host's proxy shares its traffic with the others': every half second
 * it writes what changed of its own load and last activity per machine, and reads
 * the other hosts', which its load tracker adds to its own. So a machine's
 * concurrency limits hold across hosts within a second, and a machine that served
 * through any host is not idle to any.
 */
import type { Logger } from 'pino';
import type { ProxyActivity } from '../domain/ports.ts';
import type { LoadTracker, RemoteLoad } from './load-tracker.ts';

export interface SharedLoadsOptions {
  activity: ProxyActivity;
  hostId: string;
  loads: LoadTracker;
  log: Logger;
  everyMs?: number;
  /** Requests in flight on a host that has not written for this long no longer count (default 5 s). */
  freshMs?: number;
}

/** Starts sharing; answers the stop. */
export function shareLoads(options: SharedLoadsOptions): () => Promise<void> {
  const { activity, hostId, loads, log } = options;
  const published = new Map<string, string>();
  let failing = false;
  let running: Promise<void> | undefined;
  const tick = async () => {
    try {
      const changed = loads.activity().filter((a) => published.get(a.machineId) !== `${a.inFlight}/${a.lastActive}`);
      await activity.publish(hostId, changed, []);
      for (const a of changed) published.set(a.machineId, `${a.inFlight}/${a.lastActive}`);
      const others = await activity.others(hostId, options.freshMs ?? 5_000);
      loads.setRemote(new Map<string, RemoteLoad>(others.map((a) => [a.machineId, { inFlight: a.inFlight, lastActive: a.lastActive }])));
      if (failing) log.info({}, 'proxy: sharing traffic with the other hosts again');
      failing = false;
    } catch (error) {
      if (!failing) log.warn({ err: error }, 'proxy: cannot share traffic with the other hosts; limits and idleness are this host\'s alone meanwhile');
      failing = true;
    }
  };
  const timer = setInterval(() => {
    running ??= tick().finally(() => { running = undefined; });
  }, options.everyMs ?? 500);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
