/**
 * The LISTEN/NOTIFY channels that carry one host's hints: the work queued for it,
 * and the changes of its machines. A host listens to its own only, so a hint for
 * one host wakes no other process (every API replica hears every machine's change
 * on CHANGE_CHANNEL, see host-work.ts). A channel is named by its host's id, or by
 * a hash of it where the name would pass PostgreSQL's 63 bytes.
 */
import { createHash } from 'node:crypto';
import type { MachineRecord } from '../../domain/machine.ts';
import { CHANGE_CHANNEL } from './host-work.ts';
import type { Params } from './machine-sql.ts';

export type HostChannelKind = 'work' | 'machine';

export function hostChannel(kind: HostChannelKind, hostId: string): string {
  const named = `hangar_${kind}_${hostId}`;
  return Buffer.byteLength(named) <= 63 ? named : `hangar_${kind}_${createHash('sha256').update(hostId).digest('hex').slice(0, 40)}`;
}

/**
 * The announcements of a machine's commit, made inside its transaction (so heard
 * when, and only if, it commits): on the channel every API replica hears, and on
 * its host's own (above), whose agent serves its guests' waits. The payload
 * is `id:rev`, of the row written unless given.
 */
export function announcements(params: Params, machine: MachineRecord, payload?: string): string {
  const said = payload === undefined ? "id || ':' || rev" : params.add(payload);
  const channels = [CHANGE_CHANNEL, ...(machine.hostId === undefined ? [] : [hostChannel('machine', machine.hostId)])];
  return channels.map((channel) => `pg_notify(${params.add(channel)}, ${said})`).join(', ');
}
