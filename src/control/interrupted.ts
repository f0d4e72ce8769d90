/**
 * What a hangar finishes at start, in the background, of what the one before it
 * left behind: an app whose deletion was cut short (hangar killed after marking
 * it) is deleted to the end, as asking again would; a volume whose create was cut
 * short (its record `creating`) is undone, its file removed and its record
 * dropped; and records it cannot read, which every read skips, are reported.
 *
 * It runs where apps are deleted: role `all`, and each API replica of a cluster (a
 * host agent deletes no app: it reaches only its own host's volumes). Replicas
 * starting at once may each take up the same app: two deletions of one app at
 * once both finish.
 */
import { errorMessage, HangarError } from '../domain/errors.ts';
import { deleteApp } from './apps.ts';
import type { ControlDeps } from './ports.ts';
import { dropVolume } from './volumes.ts';

/**
 * Past the longest a volume's create may take (its copy is given an hour), a
 * replica takes a volume still `creating` for one whose create was cut short.
 */
const CREATES_END_WITHIN_MS = 2 * 60 * 60_000;

/** Starts the work in the background; the function answered stops it (and resolves once it has). */
export function finishInterrupted(deps: ControlDeps): () => Promise<void> {
  const stop = new AbortController();
  const done = run(deps, stop.signal, deps.clock.now()).catch((error: unknown) => {
    // Stopped with the process: the store may be closed under it.
    if (!stop.signal.aborted) deps.log.error({ err: error }, 'looking into what the last run left behind failed');
  });
  return async () => {
    stop.abort();
    await done;
  };
}

async function run(deps: ControlDeps, signal: AbortSignal, startedAt: number): Promise<void> {
  // Deletions first: they keep app names taken; the report reads every row of four tables.
  await finishDeletions(deps, signal);
  await undoCutShortCreates(deps, signal, startedAt);
  signal.throwIfAborted();
  await reportUnreadable(deps);
}

async function reportUnreadable(deps: ControlDeps): Promise<void> {
  for (const { kind, id, problem } of await deps.store.listUnreadableRecords()) {
    deps.log.error({ kind, id, problem },
      `${kind.replace('_', ' ')} row ${id} holds no usable record (${problem}); every read skips it, and it is left in the database as it is`);
  }
}

async function finishDeletions(deps: ControlDeps, signal: AbortSignal): Promise<void> {
  for (const { name } of (await deps.store.listApps()).filter((app) => app.deleting)) {
    signal.throwIfAborted();
    deps.log.info({ app: name }, `app ${name} was being deleted when hangar stopped: deleting it to the end`);
    try {
      await deleteApp(deps, name, signal);
      deps.log.info({ app: name }, `app ${name} deleted`);
    } catch (error) {
      if (signal.aborted) throw error;
      if (error instanceof HangarError && error.code === 'not_found') {
        deps.log.info({ app: name }, `app ${name} was deleted meanwhile`);
      } else {
        deps.log.warn({ app: name, err: error }, `app ${name} could not be deleted to the end (${errorMessage(error)}); it stays marked, and deleting it again carries on`);
      }
    }
  }
}

async function undoCutShortCreates(deps: ControlDeps, signal: AbortSignal, startedAt: number): Promise<void> {
  // Alone on its database (role all, which has a host of its own), a hangar knows that every create
  // begun before it started was cut short; a replica tells another's create under way only by its age.
  // Either way a create taken for cut short while it still runs finds its record gone, and removes its file.
  const alone = deps.settings.hostId !== '';
  const begunBefore = alone ? startedAt : startedAt - CREATES_END_WITHIN_MS;
  for (const { name } of await deps.store.listApps()) {
    for (const volume of await deps.store.listVolumes(name)) {
      if (volume.state !== 'creating' || volume.createdAt >= begunBefore) continue;
      signal.throwIfAborted();
      deps.log.info({ app: name, volumeId: volume.id }, `volume ${volume.id} of app ${name} was being made when hangar stopped: its file is removed and its record dropped`);
      await dropVolume(deps, volume);
    }
  }
}
