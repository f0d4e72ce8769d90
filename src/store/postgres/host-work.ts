/** The host work queue's writes: effects queued in the commit of the machine change that decided them. */
import type { HostWork } from '../../cluster/link.ts';
import type { Effect } from '../../domain/lifecycle/decision.ts';
import type { MachineRecord } from '../../domain/machine.ts';
import { specOf } from '../../domain/runtime.ts';
import { rows, type Sql } from './connection.ts';

/** The channel a host agent listens on for a hint that work arrived; the payload is the host's id. */
export const WORK_CHANNEL = 'hangar_work';

/** Queues work (delivered, with its hint, when the transaction commits). */
async function queueWork(db: Sql, work: HostWork): Promise<void> {
  await rows(db, 'INSERT INTO host_work (host_id, machine_id, doc) VALUES ($1, $2, $3)', [work.hostId, work.spec.machineId, JSON.stringify(work)]);
  await rows(db, 'SELECT pg_notify($1, $2)', [WORK_CHANNEL, work.hostId]);
}

/** Queues `effects` for `machine`'s host; a machine with no host has nowhere to run them. */
export async function queueEffects(db: Sql, machine: MachineRecord, effects: Effect[] | undefined): Promise<void> {
  if (!effects?.length) return;
  if (!machine.hostId) throw new Error(`machine ${machine.id} has no host to run its effects`);
  await queueWork(db, { hostId: machine.hostId, rev: machine.rev, spec: specOf(machine), effects });
}
