/**
 * A host acts on what other hosts' edge proxies ask of its machines (a wake, an
 * autostop): it takes the requests queued for it whenever a hint says some came,
 * and every `pollMs` in case a hint was lost, and acts on each as its own API
 * would, through the normal start, stop and suspend. A request that fails is
 * logged; the asker sees the machine's state, and asks again if it still must.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../domain/errors.ts';
import type { MachineRequest, MachineRequests } from '../domain/ports.ts';

export interface RequestLoopOptions {
  requests: MachineRequests;
  hostId: string;
  /** Subscribes to the hints that requests may be waiting; answers the unsubscribe. */
  hints: (kick: () => void) => () => void;
  act: (request: MachineRequest) => Promise<unknown>;
  log: Logger;
  pollMs?: number;
}

/** Starts taking requests; answers the stop, which waits for the actions under way. */
export function serveRequests(options: RequestLoopOptions): () => Promise<void> {
  const { requests, hostId, act, log } = options;
  const acting = new Set<Promise<unknown>>();
  let reading: Promise<void> | undefined;
  let again = false;
  let failing = false;
  let stopped = false;

  const read = async () => {
    let taken: MachineRequest[];
    try {
      taken = await requests.take(hostId);
      if (failing) log.info({}, 'machine requests: reading them again');
      failing = false;
    } catch (error) {
      if (!failing) log.warn({ err: errorMessage(error) }, 'machine requests: cannot read them; trying again');
      failing = true;
      return;
    }
    for (const request of taken) {
      const done = act(request).then(
        () => log.info(request, `machine ${request.machineId}: ${request.action} asked by another host's proxy`),
        (error: unknown) => log.warn({ ...request, err: errorMessage(error) }, `machine ${request.machineId}: could not ${request.action} as another host asked`),
      ).finally(() => acting.delete(done));
      acting.add(done);
    }
  };
  const kick = () => {
    if (stopped) return;
    if (reading) {
      again = true;
      return;
    }
    reading = read().finally(() => {
      reading = undefined;
      if (again) {
        again = false;
        kick();
      }
    });
  };
  const unhint = options.hints(kick);
  const timer = setInterval(kick, options.pollMs ?? 2_000);
  timer.unref();
  kick();
  return async () => {
    stopped = true;
    clearInterval(timer);
    unhint();
    while (reading) await reading;
    await Promise.all(acting);
  };
}
