/**
 * Whether an error means the database could not be reached or could not write (it
 * is down, restarting, the network broke, its disk is full), as opposed to a
 * refusal that trying again would not change.
 */
import { StorageError } from '../store/store.ts';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export function databaseUnreachable(error: unknown): boolean {
  if (error instanceof StorageError) return true;
  for (let cause: unknown = error, depth = 0; cause && depth < 4; cause = (cause as { cause?: unknown }).cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'))) return true;
    const message = (cause as { message?: unknown }).message;
    if (typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i.test(message)) return true;
  }
  return false;
}
