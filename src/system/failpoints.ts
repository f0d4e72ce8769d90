/**
 * Named failpoints (STYLE rule 14, after TiKV's fail-rs): the steps of create,
 * boot, suspend, resume, destroy, a move and an app's deletion where a crash of hangar matters. A test turns
 * one on with an environment variable, read once when this module loads:
 *
 *   HANGAR_FAILPOINTS=suspend.after-stop=crash        (several: comma-separated)
 *
 * `crash` SIGKILLs hangar itself at that point, as the kernel's OOM killer or a
 * power cut would; `error` throws there instead. Unset (production), `failpoint`
 * is a function that does nothing: no lookup, no branch, no I/O. A name or action
 * it does not know stops hangar from starting, so a typo never passes silently.
 */
import { writeSync } from 'node:fs';

export const FAILPOINT_NAMES = [
  /** A machine change is committed (with its effects, in a cluster); nothing after it has run: no waiter woken, nothing handed to a host. */
  'machine.after-commit',
  /** The image is prepared for a new machine; `prepared` is not yet reported. */
  'create.after-prepare',
  /** A cold boot's QEMU has started; hangar has not connected to it. */
  'boot.after-qemu-start',
  /** A cold boot's process runs; `started` is not yet reported. */
  'boot.before-report',
  /** The guest flushed its disks for a suspend; the VM still runs. */
  'suspend.after-sync',
  /** The VM is paused for a suspend; nothing is saved yet. */
  'suspend.after-stop',
  /** QEMU is writing the VM state to hangar. */
  'suspend.mid-save',
  /** The VM state is saved whole; QEMU still runs (paused). */
  'suspend.after-save',
  /** QEMU has ended; the snapshot is not yet recorded. */
  'suspend.after-quit',
  /** The snapshot is recorded; `suspended` is not yet reported. */
  'suspend.before-report',
  /** The snapshot is consumed (its metadata removed); no QEMU yet. */
  'resume.after-consume',
  /** QEMU waits for the VM state (`-incoming defer`). */
  'resume.after-qemu-start',
  /** hangar is sending the VM state to QEMU. */
  'resume.mid-load',
  /** The VM state is loaded; the VM is paused, not yet continued. */
  'resume.after-load',
  /** The resumed VM runs; `started` is not yet reported. */
  'resume.before-report',
  /** The machine's QEMU is ended; its TAP and files remain. */
  'destroy.after-kill',
  /** Everything of the machine is removed; `destroyed` is not yet reported. */
  'destroy.before-report',
  /** Every machine of an app being deleted is destroyed; its volumes and records are not yet deleted. */
  'app-delete.after-destroy',
  /** A move's target has room for the snapshot and an inbox for it (replica); nothing is copied yet. */
  'migrate.after-reserve',
  /** The snapshot is on the target, checked and taken in (replica); the move is not committed. */
  'migrate.after-copy',
  /** The move is committed: the machine is the target's (replica); the source has not let go yet. */
  'migrate.after-commit',
  /** The source host heard the machine moved away; it has not removed its copy yet. */
  'migrate.before-cleanup',
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];
export type FailpointAction = 'crash' | 'error';

/** `name=action,name=action` → the table; throws on anything it does not know. */
export function parseFailpoints(text: string | undefined): Map<FailpointName, FailpointAction> {
  const table = new Map<FailpointName, FailpointAction>();
  for (const item of (text ?? '').split(',').map((part) => part.trim()).filter(Boolean)) {
    const [name, action = 'crash'] = item.split('=');
    if (!(FAILPOINT_NAMES as readonly string[]).includes(name as string)) {
      throw new Error(`HANGAR_FAILPOINTS: unknown failpoint "${name}"; known: ${FAILPOINT_NAMES.join(', ')}`);
    }
    if (action !== 'crash' && action !== 'error') throw new Error(`HANGAR_FAILPOINTS: ${name}: action must be crash or error, got "${action}"`);
    table.set(name as FailpointName, action);
  }
  return table;
}

export class FailpointError extends Error {
  constructor(name: FailpointName) {
    super(`failpoint ${name}`);
    this.name = 'FailpointError';
  }
}

/** What `failpoint` does when some failpoint is on. */
export function failpointsFrom(table: Map<FailpointName, FailpointAction>): (name: FailpointName) => void {
  if (table.size === 0) return () => undefined;
  return (name) => {
    const action = table.get(name);
    if (action === undefined) return;
    writeSync(2, `hangar: failpoint ${name}: ${action}\n`);
    if (action === 'crash') process.kill(process.pid, 'SIGKILL');
    throw new FailpointError(name);
  };
}

/** Marks a step where a crash matters; does nothing unless HANGAR_FAILPOINTS names it. */
export const failpoint: (name: FailpointName) => void = failpointsFrom(parseFailpoints(process.env.HANGAR_FAILPOINTS));
