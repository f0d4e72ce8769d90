/**
 * A machine moved to another host, with the volumes it mounts, in one transaction: the target's reservation
 * row locked and its room checked (holdPlace, as a create does), the machine given
 * the lowest IPv4 address free there, its 6PN address recorded as kept
 * (machine_moves, which only replicas write), its row's host, region, document and
 * events written only if it is still at the revision and on the host it was read
 * at (the reservations trigger moves what it reserves), and the change announced
 * on both hosts' channels: the one it left hears it too.
 */
import type { Pool } from 'pg';
import { HangarError } from '../../domain/errors.ts';
import type { MachineRecord } from '../../domain/machine.ts';
import type { MachineWrite } from '../store.ts';
import { announcements, hostChannel } from './channels.ts';
import { rows, transaction } from './connection.ts';
import { hostUsage } from './hosts.ts';
import { holdPlace } from './machine-insert.ts';
import { historyInserts, MACHINE_COLUMNS, machineColumns, Params, withRecent } from './machine-sql.ts';
import { readEventsDoc } from '../documents.ts';
import { StaleWriteError } from '../errors.ts';

export async function moveMachine(pool: Pool, write: MachineWrite, from: string, volumes: readonly string[]): Promise<MachineRecord> {
  return transaction(pool, async (db) => {
    let machine: MachineRecord;
    try {
      machine = await holdPlace(db, { ...write.machine, rev: write.machine.rev + 1, privateIpv4: undefined }, await hostUsage(db));
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      throw cause instanceof HangarError ? new HangarError('insufficient_capacity', cause.message.replace('to create machine', 'to move the machine'), cause.hint) : error;
    }
    const params = new Params();
    const columns = MACHINE_COLUMNS.map((column, i) => `${column} = ${params.add(machineColumns(machine)[i])}`);
    const [row] = await rows<{ recent_events: string }>(db, `UPDATE machines SET ${columns.join(', ')}, host_id = ${params.add(machine.hostId)},
        region = ${params.add(machine.region)}, private_ipv4 = ${params.add(machine.privateIpv4 ?? null)}
      WHERE id = ${params.add(machine.id)} AND rev = ${params.add(write.machine.rev)} AND host_id = ${params.add(from)}
      RETURNING recent_events, ${announcements(params, machine)}, pg_notify(${params.add(hostChannel('machine', from))}, id || ':' || rev)`, params.values);
    if (!row) throw new StaleWriteError(machine.id);
    // Its volumes go with it: the row's host, and the document's.
    const moved = await rows(db, `UPDATE volumes SET host_id = $1, doc = jsonb_set(doc::jsonb, '{hostId}', to_jsonb($1::text))::text
      WHERE id = ANY($2) AND host_id = $3 AND attached_machine_id = $4 RETURNING id`, [machine.hostId, volumes, from, machine.id]);
    if (moved.length !== volumes.length) throw new StaleWriteError(machine.id);
    // Its address is kept (it lies in the /64 of the host it left): recorded, so that the directory gives it.
    await rows(db, `INSERT INTO machine_moves (machine_id, private_ip, host_id) VALUES ($1, $2, $3)
      ON CONFLICT (machine_id) DO UPDATE SET private_ip = EXCLUDED.private_ip, host_id = EXCLUDED.host_id, moved_at = now()`,
    [machine.id, machine.privateIp, machine.hostId]);
    const history = new Params();
    const ctes = historyInserts(history, machine.id, write.events, write.version);
    const recent = JSON.stringify(withRecent(readEventsDoc(row.recent_events), write.events));
    await rows(db, `${ctes.length > 0 ? `WITH ${ctes.join(', ')} ` : ''}UPDATE machines SET recent_events = ${history.add(recent)} WHERE id = ${history.add(machine.id)}`,
      history.values);
    return machine;
  });
}
