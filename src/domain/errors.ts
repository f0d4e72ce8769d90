/**
 * hangar's errors: one type, a closed set of codes, one table from code to HTTP
 * status and to the `status` field Fly's clients read. Messages use the phrases
 * flyctl matches on ("machine not found", "lease currently held by", ...).
 */

export type ErrorCode =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'name_taken'
  | 'already_exists'
  | 'invalid_state'
  | 'lease_conflict'
  | 'version_mismatch'
  | 'not_eligible'
  | 'wait_timeout'
  | 'launch_failed'
  | 'insufficient_capacity'
  | 'insufficient_space'
  | 'limit_exceeded'
  | 'conflict'
  | 'storage_failed'
  /** The machine's (or volume's) host is lost or silent: nothing can be done there now. */
  | 'host_unreachable'
  | 'internal';

/** HTTP status per code. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  name_taken: 422,
  already_exists: 409,
  invalid_state: 412,
  lease_conflict: 409,
  version_mismatch: 412,
  not_eligible: 400,
  wait_timeout: 408,
  launch_failed: 422,
  insufficient_capacity: 503,
  insufficient_space: 422,
  limit_exceeded: 422,
  conflict: 409,
  /** hangar's own disk: the write did not happen (507 Insufficient Storage). */
  storage_failed: 507,
  host_unreachable: 503,
  internal: 500,
};

/**
 * The spec's `main.statusCode` enum, what the wire `status` field may hold, and
 * hangar's own `host_unreachable` (clients decode `status` as a string).
 */
export type WireStatus = 'unknown' | 'insufficient_capacity' | 'volume_placement_capacity' | 'name_taken' | 'host_unreachable';

export const WIRE_STATUS: Record<ErrorCode, WireStatus> = {
  invalid_argument: 'unknown',
  unauthenticated: 'unknown',
  forbidden: 'unknown',
  not_found: 'unknown',
  name_taken: 'name_taken',
  already_exists: 'unknown',
  invalid_state: 'unknown',
  lease_conflict: 'unknown',
  version_mismatch: 'unknown',
  not_eligible: 'unknown',
  wait_timeout: 'unknown',
  launch_failed: 'unknown',
  insufficient_capacity: 'insufficient_capacity',
  insufficient_space: 'volume_placement_capacity',
  limit_exceeded: 'unknown',
  conflict: 'unknown',
  storage_failed: 'unknown',
  host_unreachable: 'host_unreachable',
  internal: 'unknown',
};

export class HangarError extends Error {
  readonly code: ErrorCode;
  /** A hint for a person, kept apart from the message clients match on. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'HangarError';
    this.code = code;
    this.hint = hint;
  }
}

export const invalid = (message: string, hint?: string) => new HangarError('invalid_argument', message, hint);
export const notFound = (message: string) => new HangarError('not_found', message);
export const machineNotFound = (id: string) => new HangarError('not_found', `machine not found: ${id}`);
export const appNotFound = (name: string) => new HangarError('not_found', `app not found: ${name}`);
export const hostUnreachable = (what: string, hostId: string | undefined) => new HangarError('host_unreachable',
  `${what} is on host ${hostId ?? '(none)'}, which is lost or not heard from: nothing can be done there until it is back`,
  `wait for the host to come back, or write it off with \`hangar hosts forget ${hostId ?? '<id>'}\` once it is lost for good`);

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
