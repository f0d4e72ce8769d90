/**
 * What the store refuses with: each a domain reason the control plane turns into an
 * answer (a 409, a 412, a refused registration…), never a crash.
 */
import type { HostFence } from './store.ts';

/** A fenced write refused: the machine is on another host, or the host was registered again. */
export class FencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedError';
  }
}

/** The FencedError for a fenced write, given the host's epoch and the machine's host as stored; null if the fence holds. */
export function fencedOut(fence: HostFence, epoch: number | null, machineHost: string | null, machineId: string): FencedError | null {
  if (epoch !== fence.epoch) return new FencedError(`host ${fence.hostId} was registered again (epoch ${epoch ?? 'none'}, not ${fence.epoch}): this process no longer speaks for it`);
  if (machineHost !== fence.hostId) return new FencedError(`machine ${machineId} is on host ${machineHost ?? '(none)'}, not ${fence.hostId}`);
  return null;
}

export class StaleWriteError extends Error {
  readonly machineId: string;

  constructor(machineId: string) {
    super(`machine ${machineId} changed since it was read`);
    this.name = 'StaleWriteError';
    this.machineId = machineId;
  }
}

export class DuplicateError extends Error {
  readonly what: 'app' | 'machine_name' | 'key' | 'template';
  constructor(what: 'app' | 'machine_name' | 'key' | 'template', message: string) {
    super(message);
    this.name = 'DuplicateError';
    this.what = what;
  }
}

/** A machine or volume was to be inserted into an app that is gone or being deleted. */
export class AppGoneError extends Error {
  /** `replaced`: an app of that name is there, another than the one asked for (it was deleted and made again). */
  readonly why: 'missing' | 'deleting' | 'replaced';
  constructor(appName: string, why: 'missing' | 'deleting' | 'replaced') {
    super(why === 'missing' ? `app ${appName} does not exist` : why === 'deleting' ? `app ${appName} is being deleted` : `app ${appName} was deleted and made again`);
    this.name = 'AppGoneError';
    this.why = why;
  }
}

/** An app was to be deleted while some of its machines are not destroyed. */
export class LiveMachinesError extends Error {
  constructor(appName: string, ids: string[]) {
    super(`app ${appName} still has machines not destroyed: ${ids.join(', ')}`);
    this.name = 'LiveMachinesError';
  }
}

/**
 * The database could not be written (a full disk, an I/O error): the write did not
 * happen. The message is SQLite's own ("database or disk is full").
 */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`hangar could not write its database: ${message}`, options);
    this.name = 'StorageError';
  }
}

/**
 * A registration refused: another instance holds the host and was heard from
 * within the freshness window (`held`), or an operator wrote the host off
 * (`forgotten`).
 */
export class HostRefusedError extends Error {
  readonly reason: 'held' | 'forgotten';
  /** `held`: the instance that holds the host, and how long ago it was heard from. */
  readonly holder?: { instanceId: string; silentMs: number };
  constructor(hostId: string, reason: 'held' | 'forgotten', holder?: { instanceId: string; silentMs: number }) {
    super(reason === 'forgotten'
      ? `host ${hostId} was forgotten (written off, its machines destroyed): it may register again only after \`hangar hosts rejoin ${hostId}\``
      : `host ${hostId} is held by another instance, ${holder?.instanceId}, heard from ${((holder?.silentMs ?? 0) / 1000).toFixed(1)} s ago; `
        + `if that instance is known dead (its server replaced), start this one with --take-over`);
    this.name = 'HostRefusedError';
    this.reason = reason;
    this.holder = holder;
  }
}

/** A write would take an app past one of its limits. */
export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitError';
  }
}
