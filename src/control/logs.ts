/** A machine's console output, for `hangar machine logs` and `GET /hangar/v1/…/logs`. */
import { invalid } from '../domain/errors.ts';
import { MAX_TAIL } from '../domain/guest-ops.ts';
import { loadMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';

export const DEFAULT_TAIL = 100;

export async function machineLogs(deps: ControlDeps, appName: string, id: string, query: { tail?: string; follow?: boolean }, signal: AbortSignal): Promise<AsyncIterable<string>> {
  const tail = query.tail === undefined || query.tail === '' ? DEFAULT_TAIL : Number(query.tail);
  if (!Number.isInteger(tail) || tail < 0 || tail > MAX_TAIL) throw invalid(`tail must be a whole number from 0 to ${MAX_TAIL}`);
  await loadMachine(deps, appName, id);
  return deps.runtime.guest.logs(id, { tail, follow: query.follow === true }, signal);
}
