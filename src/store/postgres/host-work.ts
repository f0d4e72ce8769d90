/** The host work queue's writes: effects queued in the commit of the machine change that decided them. */
import type { HostWork } from '../../cluster/link.ts';
import type { Effect } from '../../domain/lifecycle/decision.ts';
import type { MachineRecord } from '../../domain/machine.ts';
import { specOf } from '../../domain/runtime.ts';
import { rows, type Sql } from './connection.ts';
import { Params } from './machine-sql.ts';

/** The channel a host agent listens on for a hint that work arrived; the payload is the host's id. */
export const WORK_CHANNEL = 'hangar_work';

/**
 * The statement parts that queue `effects` for `machine`'s host: a CTE inserting
 * the work, and the hint, as the statement's final SELECT (a CTE that only selects
 * would not run). Nothing when there are no effects.
 */
export function workInserts(params: Params, machine: MachineRecord, effects: Effect[] | undefined): { ctes: string[]; select: string } | undefined {
  if (!effects?.length) return undefined;
  if (!machine.hostId) throw new Error(`machine ${machine.id} has no host to run its effects`);
  const work: HostWork = { hostId: machine.hostId, rev: machine.rev, spec: specOf(machine), effects };
  const host = params.add(work.hostId);
  return {
    ctes: [`new_work AS (INSERT INTO host_work (host_id, machine_id, doc) VALUES (${host}, ${params.add(machine.id)}, ${params.add(JSON.stringify(work))}))`],
    select: `SELECT pg_notify(${params.add(WORK_CHANNEL)}, ${host})`,
  };
}

/** Queues `effects` for `machine`'s host in one statement (delivered, with its hint, when the transaction commits). */
export async function queueEffects(db: Sql, machine: MachineRecord, effects: Effect[] | undefined): Promise<void> {
  const params = new Params();
  const work = workInserts(params, machine, effects);
  if (work) await rows(db, `WITH ${work.ctes.join(', ')} ${work.select}`, params.values);
}
