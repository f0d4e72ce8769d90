/**
 * What a database error means for a report that could not be written: the
 * database could not be reached or could not write now (down, restarting, the
 * network broke, its disk is full, read-only after a failover, a statement
 * cancelled or a transaction aborted by a conflict), which trying again cures; or
 * a refusal of the report itself, which it does not.
 */
import { HangarError } from '../domain/errors.ts';
import { StorageError } from '../store/errors.ts';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
/**
 * SQLSTATEs that pass: read-only (a primary demoted under a stale URL), a statement
 * cancelled (its timeout), serialization failures, deadlocks, a lock not available.
 */
const TRANSIENT_STATES = new Set(['25006', '57014', '40001', '40P01', '55P03']);

export function databaseUnreachable(error: unknown): boolean {
  if (error instanceof StorageError) return true;
  for (let cause: unknown = error, depth = 0; cause && depth < 4; cause = (cause as { cause?: unknown }).cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || TRANSIENT_STATES.has(code) || code.startsWith('08') || code.startsWith('57P'))) return true;
    const message = (cause as { message?: unknown }).message;
    if (typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Query read timeout|the database system is (starting up|shutting down)/i.test(message)) return true;
  }
  return false;
}

/**
 * Whether a report was refused for what it says (its machine is gone, or it makes
 * no sense now): hangar's own errors. Anything else, the database's errors above
 * and those it does not know, is not a refusal: the report is kept and tried again.
 */
export function reportRefused(error: unknown): boolean {
  return error instanceof HangarError && !['internal', 'storage_failed', 'conflict'].includes(error.code);
}
