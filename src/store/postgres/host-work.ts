/**
 * The outbox in PostgreSQL: effects queued in the commit of the machine change
 * that decided them, with a NOTIFY to the host in the same transaction; read by
 * the host agent (fenced by its epoch) and removed once done.
 */
import type { Effect } from '../../domain/lifecycle/decision.ts';
import type { MachineRecord } from '../../domain/machine.ts';
import { specOf } from '../../domain/runtime.ts';
import type { HostFence, HostWork, QueuedWork } from '../store.ts';
import { queuedWorkIn } from '../documents.ts';
import { changed, rows, type Sql } from './connection.ts';
import { hostChannel } from './channels.ts';
import { Params } from './machine-sql.ts';

/** The channel every commit of a machine is announced on, inside its transaction; the payload is `id:rev`. */
export const CHANGE_CHANNEL = 'hangar_machine';

/**
 * The statement parts that queue `effects` for `machine`'s host: a CTE inserting
 * the work (once per row of the CTE `after`, when given: not at all if it has none),
 * and the hint on the host's own work channel (channels.ts), an expression for the
 * statement's final SELECT (a CTE that only selects would not run). Nothing when
 * there are no effects.
 */
export function workInserts(params: Params, machine: MachineRecord, effects: Effect[] | undefined, after?: string): { ctes: string[]; hint: string } | undefined {
  if (!effects?.length) return undefined;
  if (!machine.hostId) throw new Error(`machine ${machine.id} has no host to run its effects`);
  const work: HostWork = { hostId: machine.hostId, rev: machine.rev, spec: specOf(machine), effects };
  const host = params.add(work.hostId);
  return {
    ctes: [`new_work AS (INSERT INTO host_work (host_id, machine_id, doc) SELECT ${host}, ${params.add(machine.id)}, ${params.add(JSON.stringify(work))}${after ? ` FROM ${after}` : ''})`],
    hint: `pg_notify(${params.add(hostChannel('work', work.hostId))}, ${host})`,
  };
}

/** Queues `effects` for `machine`'s host in one statement (delivered, with its hint, when the transaction commits). */
export async function queueEffects(db: Sql, machine: MachineRecord, effects: Effect[] | undefined): Promise<void> {
  const params = new Params();
  const work = workInserts(params, machine, effects);
  if (work) await rows(db, `WITH ${work.ctes.join(', ')} SELECT ${work.hint}`, params.values);
}

/** The fence of a host's reads and acknowledgements of its queue, as a condition. */
const HOLDS = "EXISTS (SELECT 1 FROM hosts WHERE id = $1 AND epoch = $2 AND state = 'active')";

export async function claimWork(db: Sql, host: HostFence, taken: readonly number[], limit: number, acks: readonly number[] = []): Promise<QueuedWork[]> {
  // The acknowledged pieces are in `taken` until this answers, so the read, whose
  // snapshot predates the delete, skips them too.
  const found = await rows(db, `
    WITH done AS (DELETE FROM host_work WHERE host_id = $1 AND id = ANY($5::bigint[]) AND ${HOLDS})
    SELECT w.id, w.doc, w.machine_id, m.doc AS machine
    FROM host_work w LEFT JOIN machines m ON m.id = w.machine_id
    WHERE w.host_id = $1 AND w.id <> ALL($3::bigint[]) AND ${HOLDS} ORDER BY w.id LIMIT $4`,
  [host.hostId, host.epoch, taken, limit, acks]);
  return found.map(queuedWorkIn);
}

export async function ackWork(db: Sql, host: HostFence, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await changed(db, `DELETE FROM host_work WHERE host_id = $1 AND id = ANY($3::bigint[]) AND ${HOLDS}`, [host.hostId, host.epoch, ids]);
}
