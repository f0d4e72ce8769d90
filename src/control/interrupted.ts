/**
 * What a hangar looks into at start, in the background, of what the one before it
 * left behind: records it cannot read, which every read skips, are reported.
 *
 * It runs where apps are managed: role `all`, and each API replica of a cluster. A
 * host agent has nothing to do here: it reads only its own machines (recovery.ts).
 */
import type { ControlDeps } from './ports.ts';

/** Starts the work in the background; the function answered stops it (and resolves once it has). */
export function finishInterrupted(deps: ControlDeps): () => Promise<void> {
  const stop = new AbortController();
  const done = run(deps, stop.signal).catch((error: unknown) => {
    // Stopped with the process: the store may be closed under it.
    if (!stop.signal.aborted) deps.log.error({ err: error }, 'looking into what the last run left behind failed');
  });
  return async () => {
    stop.abort();
    await done;
  };
}

async function run(deps: ControlDeps, signal: AbortSignal): Promise<void> {
  await reportUnreadable(deps);
  signal.throwIfAborted();
}

async function reportUnreadable(deps: ControlDeps): Promise<void> {
  for (const { kind, id, problem } of await deps.store.listUnreadableRecords()) {
    deps.log.error({ kind, id, problem },
      `${kind.replace('_', ' ')} row ${id} holds no usable record (${problem}); every read skips it, and it is left in the database as it is`);
  }
}
