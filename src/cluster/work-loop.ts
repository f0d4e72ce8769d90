/**
 * A host agent drains its work queue: at start, whenever the link hints that work
 * arrived, and every `pollMs` in case a hint was lost. Work goes to the agent in the
 * order it was queued; the agent runs each machine's effects one after another.
 *
 * Work its recovery already finished is dropped: recovery read each machine at some
 * revision and finished what that state said was under way, so work a commit queued
 * at that revision or before is moot; work committed after the read is not.
 */
import type { Logger } from 'pino';
import type { HostRuntime } from '../domain/runtime.ts';
import type { HostFence } from '../store/store.ts';
import type { ClusterLink, HostWork } from './link.ts';

const BATCH = 50;

export interface DrainOptions {
  /** The revision at which recovery read each machine it finished. */
  recovered?: ReadonlyMap<string, number>;
  pollMs?: number;
}

export function drainWork(link: ClusterLink, host: HostFence, runtime: HostRuntime, log: Logger, options: DrainOptions = {}): () => void {
  const { hostId } = host;
  const { recovered = new Map<string, number>(), pollMs = 1_000 } = options;
  const moot = (work: HostWork) => {
    const read = recovered.get(work.spec.machineId);
    // Work queued before revisions were recorded (no `rev`) predates any recovery.
    return read !== undefined && (work.rev ?? 0) <= read;
  };
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
          const batch = await link.claim(host, BATCH);
          for (const work of batch) if (!moot(work)) runtime.submit(work.spec, work.effects);
          more = batch.length === BATCH;
        }
      } while (again && !stopped);
    } catch (error) {
      log.warn({ err: error, hostId }, 'host agent: could not take work from the queue; trying again');
    } finally {
      draining = false;
    }
  };
  const unsubscribe = link.onWork(hostId, () => void drain());
  const timer = setInterval(() => void drain(), pollMs);
  timer.unref();
  void drain();
  return () => {
    stopped = true;
    unsubscribe();
    clearInterval(timer);
  };
}
