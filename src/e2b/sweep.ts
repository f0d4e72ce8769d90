/**
 * What the reaper destroys besides sandboxes whose time is up: machines left
 * behind by a template that went, or by a process that went away mid-way.
 *
 * - A fork left by a process that went away before it made the fork what it was
 *   for (still marked forking past `FORK_STALE_MS`).
 * - A spare that can no longer be taken (so that another is made, and it holds no
 *   VM meanwhile): a ready one that is not started (its VM died: a sandbox's
 *   restart policy is `no`; or it has been starting for `STALE_MS`), and one left
 *   warming or claimed past `STALE_MS`.
 * - A spare or a base whose template is gone, or was deleted and made again under
 *   its id. Deleting a template destroys them, but a process
 *   that died after the template's record went, or a create that booted a base
 *   while the template was being deleted, leaves them running. A base only once
 *   unchanged for `STALE_MS` as well: a snapshot's base is made (forked, started,
 *   suspended) before its template is written.
 *
 * Each is destroyed only while it still holds the mark it was swept for, in one
 * write, so a create that took a spare meanwhile keeps it, and a refused destroy
 * is tried again next pass. One that fails never stops the others. A claimed
 * spare is becoming a sandbox, and a sandbox outlives its template.
 */
import { destroyMachineIf } from '../control/actions.ts';
import type { ControlDeps } from '../control/ports.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { findTemplate, type TemplateRecord } from './records.ts';
import { isGone, isOfVersion, META } from './sandbox-machine.ts';

/** A fork or a spare still warming or claimed, or a base without its template, this long after its last change was left by a process that went away. */
const STALE_MS = 5 * 60_000;
/** A fork still marked forking this long after its last change: well past the fork's lease (300 s), which a slow host may use up. */
const FORK_STALE_MS = 15 * 60_000;

/** The ids of the machines destroyed. */
export async function sweepLeftovers(deps: ControlDeps, machines: MachineRecord[]): Promise<string[]> {
  const swept: string[] = [];
  const now = deps.clock.now();
  const templates = new Map<string, Promise<TemplateRecord | null | 'unread'>>();
  // A template that cannot be read is taken as there: nothing is destroyed on a failed read.
  const templateOf = (id: string) => {
    if (!templates.has(id)) templates.set(id, findTemplate(deps.store, id).catch(() => 'unread' as const));
    return templates.get(id) as Promise<TemplateRecord | null | 'unread'>;
  };
  for (const machine of machines) {
    if (isGone(machine)) continue;
    const meta = machine.config.metadata ?? {};
    const stale = now - machine.updatedAt > STALE_MS;
    const transient = ['starting', 'created'].includes(machine.state);
    let drop: { key: string; value: string } | undefined;
    for (const key of [META.base, META.spare, META.warming, META.claimed, META.forking]) {
      const value = meta[key];
      if (value === undefined) continue;
      const dead = key === META.spare && machine.state !== 'started' && (!transient || stale);
      const orphaned = key !== META.claimed && key !== META.forking && (key !== META.base || stale) && isOrphan(machine, await templateOf(value));
      const abandoned = key === META.forking ? now - machine.updatedAt > FORK_STALE_MS : (key === META.warming || key === META.claimed) && stale;
      if (dead || orphaned || abandoned) drop = { key, value };
    }
    if (!drop) continue;
    try {
      await destroyMachineIf(deps, machine.appName, machine.id, drop);
      swept.push(machine.id);
    } catch (error) {
      deps.log.debug({ err: error, machineId: machine.id }, 'e2b: a leftover could not be swept; tried again next pass');
    }
  }
  return swept;
}

/** Whether the template a spare or base was made of is gone: no record, or a newer one under its id. */
function isOrphan(machine: MachineRecord, template: TemplateRecord | null | 'unread'): boolean {
  if (template === 'unread') return false;
  return template === null || !isOfVersion(machine, template.createdAt);
}
