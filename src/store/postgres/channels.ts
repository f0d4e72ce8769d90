/**
 * The LISTEN/NOTIFY channels that carry one host's hints: the work queued for it,
 * and the changes of its machines. A host listens to its own only, so a hint for
 * one host wakes no other process (every API replica hears every machine's change
 * on CHANGE_CHANNEL, see host-work.ts). A channel is named by its host's id, or by
 * a hash of it where the name would pass PostgreSQL's 63 bytes.
 */
import { createHash } from 'node:crypto';

export type HostChannelKind = 'work' | 'machine';

export function hostChannel(kind: HostChannelKind, hostId: string): string {
  const named = `hangar_${kind}_${hostId}`;
  return Buffer.byteLength(named) <= 63 ? named : `hangar_${kind}_${createHash('sha256').update(hostId).digest('hex').slice(0, 40)}`;
}
