/**
 * Creates from one base, batched: a fork saves its parent's VM once (a pause, its
 * state and a copy of its RAM) for however many children it makes, so creates that
 * arrive while a fork of the base is under way wait for it to end and then share
 * the next one (up to fork's limit of children each). One create alone forks at
 * once, as before; twenty at once make two or three saves instead of twenty. Per
 * process: each replica batches its own.
 */
import { forkMachine, MAX_FORK_COUNT } from '../control/fork.ts';
import type { ControlDeps } from '../control/ports.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { forkingMark } from './sandbox-machine.ts';

interface Waiter {
  resolve(child: MachineRecord): void;
  reject(error: unknown): void;
}

interface Queue {
  waiting: Waiter[];
  forking: boolean;
}

const queues = new Map<string, Queue>();

/** One child of `baseId` (a base of template `templateID`), from the next fork of it. */
export function forkOne(deps: ControlDeps, appName: string, baseId: string, templateID: string): Promise<MachineRecord> {
  const key = `${appName}/${baseId}`;
  const queue = queues.get(key) ?? { waiting: [], forking: false };
  queues.set(key, queue);
  const child = new Promise<MachineRecord>((resolve, reject) => queue.waiting.push({ resolve, reject }));
  if (!queue.forking) void drain(deps, appName, baseId, templateID, key, queue);
  return child;
}

async function drain(deps: ControlDeps, appName: string, baseId: string, templateID: string, key: string, queue: Queue): Promise<void> {
  queue.forking = true;
  while (queue.waiting.length > 0) {
    const batch = queue.waiting.splice(0, MAX_FORK_COUNT);
    try {
      const children = await forkMachine(deps, appName, baseId, { count: batch.length }, forkingMark(templateID));
      batch.forEach((waiter, index) => waiter.resolve(children[index] as MachineRecord));
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
    }
  }
  queue.forking = false;
  queues.delete(key);
}
