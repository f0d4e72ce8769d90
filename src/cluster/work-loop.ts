/**
 * A host agent drains its work queue: at start, whenever the link hints that work
 * arrived, and every `pollMs` in case a hint was lost. Work goes to the agent in the
 * order it was queued; the agent runs each machine's effects one after another.
 */
import type { Logger } from 'pino';
import type { HostRuntime } from '../domain/runtime.ts';
import type { ClusterLink } from './link.ts';

const BATCH = 50;

export function drainWork(link: ClusterLink, hostId: string, runtime: HostRuntime, log: Logger, pollMs = 1_000): () => void {
  let draining = false;
  let again = false;
  let stopped = false;
  const drain = async (): Promise<void> => {
    if (draining) {
      again = true;
      return;
    }
    draining = true;
    try {
      do {
        again = false;
        // A batch short of full emptied the queue: more only comes with a new hint.
        for (let more = true; more && !stopped;) {
          const batch = await link.claim(hostId, BATCH);
          for (const work of batch) runtime.submit(work.spec, work.effects);
          more = batch.length === BATCH;
        }
      } while (again && !stopped);
    } catch (error) {
      log.warn({ err: error, hostId }, 'host agent: could not take work from the queue; trying again');
    } finally {
      draining = false;
    }
  };
  link.onWork(hostId, () => void drain());
  const timer = setInterval(() => void drain(), pollMs);
  timer.unref();
  void drain();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
