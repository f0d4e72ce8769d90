/**
 * The one path by which a machine changes: load it, let the domain decide, commit
 * the decision and its effects for the host in one transaction (the outbox), then
 * wake waiters and tell the host work is queued. A commit based on a stale read is
 * retried on a fresh one, so concurrent requests never overwrite each other (of
 * 100 racing lease requests one wins).
 */
import { HangarError, machineNotFound } from '../domain/errors.ts';
import type { Decision, DecisionContext } from '../domain/lifecycle/decision.ts';
import { checkLease } from '../domain/lease.ts';
import type { MachineRecord, MachineVersion } from '../domain/machine.ts';
import type { HostFence } from '../store/store.ts';
import { FencedError, StaleWriteError } from '../store/errors.ts';
import type { ControlDeps } from './ports.ts';
import { failpoint } from '../system/failpoints.ts';
import { assertHostReachable } from './host-reach.ts';

const MAX_ATTEMPTS = 50;

export interface WriteOptions {
  /** Enforce the machine's lease: the caller's `fly-machine-lease-nonce`. */
  lease?: { nonce: string | undefined };
  /** Write only as this host (see MachineWrite.fence). */
  fence?: HostFence;
}

export type Decide = (machine: MachineRecord, ctx: DecisionContext) => (Decision & { version?: MachineVersion }) | Promise<Decision & { version?: MachineVersion }>;

export interface WriteResult {
  before: MachineRecord;
  after: MachineRecord;
}

export function decisionContext(deps: ControlDeps): DecisionContext {
  return { now: deps.clock.now(), newId: () => deps.ids.ulid() };
}

export async function loadMachine(deps: ControlDeps, appName: string, id: string): Promise<MachineRecord> {
  const machine = await deps.store.getMachine(appName, id);
  if (!machine) throw machineNotFound(id);
  return machine;
}

/** Changes a machine of an app through `decide`. */
export function writeMachine(deps: ControlDeps, appName: string, id: string, options: WriteOptions, decide: Decide): Promise<WriteResult> {
  return write(deps, () => loadMachine(deps, appName, id), options, decide);
}

/**
 * Changes a machine found by id alone: the host agent's reports, fenced in a
 * cluster (written only for machines on this host, while it keeps its epoch).
 * Decided first on the record this process knows, if it knows one (see
 * known-records.ts): if that one is not current, or anything else goes wrong
 * with it but a fence, the record is read and the change made as always.
 */
export async function writeMachineById(deps: ControlDeps, id: string, decide: Decide): Promise<WriteResult> {
  const options = { fence: deps.fence };
  const known = deps.known?.get(id);
  if (known) {
    try {
      return await writeOnce(deps, known, options, decide);
    } catch (error) {
      if (error instanceof FencedError) throw error;
      deps.known?.forget(id);
    }
  }
  return write(deps, async () => {
    const machine = await deps.store.getMachineById(id);
    if (!machine) throw machineNotFound(id);
    return machine;
  }, options, decide);
}

async function write(deps: ControlDeps, load: () => Promise<MachineRecord>, options: WriteOptions, decide: Decide): Promise<WriteResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeOnce(deps, await load(), options, decide);
    } catch (error) {
      if (!(error instanceof StaleWriteError)) throw error;
      if (attempt >= MAX_ATTEMPTS) throw new HangarError('conflict', `machine ${error.machineId} is changing too often; try again`);
    }
  }
}

/** Decides on `before` and commits the decision; StaleWriteError when `before` is no longer the machine's record. */
async function writeOnce(deps: ControlDeps, before: MachineRecord, options: WriteOptions, decide: Decide): Promise<WriteResult> {
  const ctx = decisionContext(deps);
  if (options.lease) checkLease(before.id, before.lease, options.lease.nonce, ctx.now);
  const decision = await decide(before, ctx);
  // A change its host must carry out is refused while that host is lost or silent; its own reports are not.
  if (decision.effects.length > 0 && !options.fence) assertHostReachable(deps, `machine ${before.id}`, before.hostId);
  const after = await deps.store.commit({
    machine: decision.machine, events: decision.events, version: decision.version, effects: decision.effects,
    ...(options.fence ? { fence: options.fence } : {}),
  });
  failpoint('machine.after-commit');
  afterCommit(deps, before, after, decision);
  return { before, after };
}

/** Wakes waiters, tells the feed and the host that work is queued for it, once the decision is durable. */
export function afterCommit(deps: ControlDeps, before: MachineRecord | null, after: MachineRecord, decision: Decision): void {
  deps.known?.remember(after);
  const lastEvent = decision.events.at(-1);
  if (!before || before.state !== after.state || before.version !== after.version) {
    deps.waits.publish(after.id, { state: after.state, version: after.version, eventId: lastEvent?.id ?? '', rev: after.rev });
  }
  deps.feed.publish(after);
  for (const event of decision.events) {
    if (event.type === 'wedged') deps.log.warn({ machineId: after.id, event: event.request }, `machine ${after.id} is wedged in ${event.status}`);
  }
  if (decision.effects.length > 0 && after.hostId !== undefined) deps.workQueued?.(after.hostId);
}
