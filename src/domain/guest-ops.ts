/**
 * Guest operations: what is asked of a running machine's guest and waited for
 * (exec, ps, signal, memory, logs). Each is declared once, in `GUEST_OPS`: its
 * input, its result and its path on a host agent's API. From the table come
 *
 * - `GuestOps`, the port the control plane calls and every VMM driver implements
 *   (a host agent hands out its driver's: runtime.ts `HostRuntime.guest`);
 * - the host agent API's routes and an API replica's client of them
 *   (cluster/guest-ops-wire.ts): each operation is a POST of its input as JSON to
 *   its path, answered with its result as JSON (a void result: 204, no body), or,
 *   for `logs`, with lines of text for as long as the caller reads. The agent
 *   checks every input and the replica every result against these schemas.
 *
 * Adding an operation: an entry here, its implementation in each driver, and a
 * public route (api/) if users may call it.
 */
import { type Static, type TSchema, Type } from 'typebox';
import { MAX_MEMORY_MB } from './guest.ts';
import { SIGNALS, type SignalName } from './signals.ts';

/** Smallest memory limit a guest may be squeezed to. */
export const MIN_MEMORY_LIMIT_MB = 128;
/** The most console lines one read may ask for. */
export const MAX_TAIL = 10_000;

const exact = { additionalProperties: false } as const;

const ExecRequestSchema = Type.Object({
  command: Type.Array(Type.String(), { minItems: 1 }),
  stdin: Type.Optional(Type.String()),
  timeoutMs: Type.Integer({ minimum: 1, maximum: 3_600_000 }),
}, exact);

/** Fly's wire shape (`flydv1.ExecResponse`): the public API answers it as it is. */
const ExecResultSchema = Type.Object({
  stdout: Type.String(),
  stderr: Type.String(),
  exit_code: Type.Integer(),
  exit_signal: Type.Integer(),
}, exact);

/** Fly's wire shape (`ProcessStat`): the public API answers a list of these as it is. */
const ProcessInfoSchema = Type.Object({
  pid: Type.Integer(),
  command: Type.String(),
  cpu: Type.Number(),
  rss: Type.Number(),
  rtime: Type.Number(),
  stime: Type.Number(),
  directory: Type.String(),
  listen_sockets: Type.Array(Type.Object({ address: Type.String(), proto: Type.String() }, exact)),
}, exact);

/** Guest memory as the balloon device reports it (Fly's wire shape). */
const MemoryInfoSchema = Type.Object({
  limit_mb: Type.Integer(),
  available_mb: Type.Integer(),
}, exact);

const SignalSchema = Type.Unsafe<SignalName>(Type.Enum(Object.keys(SIGNALS)));

/** An operation answered once, with its result. */
interface Answered {
  path: string;
  input: TSchema;
  result: TSchema;
}

/** An operation answered with lines of text (a console) until its caller stops reading. */
interface Streamed {
  path: string;
  input: TSchema;
  lines: true;
}

export const GUEST_OPS = {
  exec: { path: '/agent/v1/machines/:id/exec', input: ExecRequestSchema, result: ExecResultSchema },
  ps: { path: '/agent/v1/machines/:id/ps', input: Type.Void(), result: Type.Array(ProcessInfoSchema) },
  signal: { path: '/agent/v1/machines/:id/signal', input: Type.Object({ signal: SignalSchema }, exact), result: Type.Void() },
  memory: { path: '/agent/v1/machines/:id/memory', input: Type.Void(), result: MemoryInfoSchema },
  /** Sets how much memory the guest may use (balloon inflate/deflate); answers the new figures. */
  setMemoryLimit: {
    path: '/agent/v1/machines/:id/memory/limit',
    input: Type.Object({ limitMb: Type.Integer({ minimum: MIN_MEMORY_LIMIT_MB, maximum: MAX_MEMORY_MB }) }, exact),
    result: MemoryInfoSchema,
  },
  /** Asks the guest to give back up to `amountMb`; answers how much it gave. */
  reclaimMemory: {
    path: '/agent/v1/machines/:id/memory/reclaim',
    input: Type.Object({ amountMb: Type.Integer({ minimum: 1, maximum: MAX_MEMORY_MB }) }, exact),
    result: Type.Object({ reclaimedMb: Type.Integer({ minimum: 0 }) }, exact),
  },
  /** The console: the last `tail` lines, then (with `follow`) new lines until the caller stops reading. */
  logs: {
    path: '/agent/v1/machines/:id/logs',
    input: Type.Object({ tail: Type.Integer({ minimum: 0, maximum: MAX_TAIL }), follow: Type.Boolean() }, exact),
    lines: true,
  },
} as const satisfies Record<string, Answered | Streamed>;

export type GuestOpName = keyof typeof GUEST_OPS;
export const GUEST_OP_NAMES = Object.keys(GUEST_OPS) as GuestOpName[];

export type GuestInput<N extends GuestOpName> = Static<(typeof GUEST_OPS)[N]['input']>;
export type GuestResult<N extends GuestOpName> = (typeof GUEST_OPS)[N] extends { result: infer R extends TSchema } ? Static<R> : never;

/**
 * The guest operations of the machines on a host, one function per entry of
 * `GUEST_OPS`: an answered operation resolves to its result; a streamed one yields
 * lines until `signal` aborts.
 */
export type GuestOps = {
  [N in GuestOpName]: (typeof GUEST_OPS)[N] extends Answered
    ? (machineId: string, input: GuestInput<N>) => Promise<GuestResult<N>>
    : (machineId: string, input: GuestInput<N>, signal: AbortSignal) => AsyncIterable<string>;
};

export type ExecRequest = GuestInput<'exec'>;
export type ExecResult = GuestResult<'exec'>;
export type ProcessInfo = Static<typeof ProcessInfoSchema>;
export type MemoryInfo = GuestResult<'memory'>;
export type LogRequest = GuestInput<'logs'>;
