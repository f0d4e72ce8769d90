/**
 * Forking a running machine (hangar's own, beyond Fly's API): `count` new machines,
 * each with the parent's config (its metadata too, unless the caller gives the
 * children theirs), that start from the parent's memory instead of a boot. The parent pauses only while its VM is saved, and runs on.
 *
 * The children are recorded first (in `created`, on the parent's host, under a
 * lease the fork holds so nobody acts on them meanwhile), the host then makes their
 * snapshots, and each is started from its snapshot. If the host cannot fork, the
 * children are destroyed and the request fails, saying why; the parent runs on.
 */
import { errorMessage, HangarError, invalid } from '../domain/errors.ts';
import { acquireLease } from '../domain/lease.ts';
import { decideDestroy, decideStartForked } from '../domain/lifecycle/actions.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { specOf } from '../domain/runtime.ts';
import { suspendRefusal } from '../domain/suspend.ts';
import { appForCreate } from './app-lookup.ts';
import { placer } from './hosts.ts';
import { decisionContext, loadMachine, writeMachine } from './machine-writer.ts';
import { insertWithName } from './machines.ts';
import type { ControlDeps } from './ports.ts';

export const MAX_FORK_COUNT = 16;
/** Long enough for the save and the children's snapshots on a busy host. */
const FORK_LEASE_SECONDS = 300;

export interface ForkInput {
  count?: unknown;
}

/** `childMetadata`, when given, is the children's metadata in place of the parent's: what they are until whoever forked them says. */
export async function forkMachine(deps: ControlDeps, appName: string, id: string, input: ForkInput, childMetadata?: Record<string, string>): Promise<MachineRecord[]> {
  const count = input.count ?? 1;
  if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > MAX_FORK_COUNT) {
    throw invalid(`count must be a whole number from 1 to ${MAX_FORK_COUNT}`);
  }
  const parent = await loadMachine(deps, appName, id);
  checkForkable(parent, deps.settings.suspendMaxMemoryMb);
  const app = await appForCreate(deps, appName);
  const nonce = deps.ids.nonce();
  const children: MachineRecord[] = [];
  try {
    for (let i = 0; i < (count as number); i++) children.push(await insertChild(deps, parent, app.netNumber, nonce, childMetadata));
    await deps.runtime.fork(specOf(parent), children.map(specOf));
  } catch (error) {
    for (const child of children) {
      await writeMachine(deps, appName, child.id, { lease: { nonce } }, (m, ctx) => decideDestroy({ ...m, lease: null }, true, ctx)).catch(() => undefined);
    }
    if (error instanceof HangarError) throw error;
    throw new HangarError('launch_failed', `failed to fork machine ${id}: ${errorMessage(error)}`, 'the machine runs on as it was');
  }
  const started: MachineRecord[] = [];
  for (const child of children) {
    started.push((await writeMachine(deps, appName, child.id, { lease: { nonce } }, (m, ctx) => decideStartForked(m, parent.id, ctx))).after);
  }
  return started;
}

/** A running machine whose RAM is in a file (one that may be suspended), with no volume. */
function checkForkable(parent: MachineRecord, suspendMaxMemoryMb: number): void {
  if (parent.state !== 'started') {
    throw new HangarError('invalid_state', `cannot fork machine ${parent.id}: machine is ${parent.state}`, 'start the machine first');
  }
  if ((parent.config.mounts ?? []).length > 0) {
    throw invalid(`cannot fork machine ${parent.id}: it mounts a volume, which only one machine may use`, 'fork a machine that mounts no volume');
  }
  const refusal = suspendRefusal(parent.config, suspendMaxMemoryMb);
  if (refusal) throw new HangarError('not_eligible', `cannot fork machine ${parent.id}: ${refusal}`);
}

/** A new machine like the parent, on the parent's host, held by the fork's lease until it starts. */
async function insertChild(deps: ControlDeps, parent: MachineRecord, netNumber: number, nonce: string, metadata: Record<string, string> | undefined): Promise<MachineRecord> {
  const ctx = decisionContext(deps);
  const id = deps.ids.machineId();
  const child: MachineRecord = {
    id,
    appName: parent.appName,
    name: '',
    region: parent.region,
    state: 'created',
    stateSince: ctx.now,
    desired: 'created',
    observed: { vm: 'absent', at: ctx.now },
    version: deps.ids.ulid(),
    config: metadata ? { ...parent.config, metadata } : parent.config,
    imageRef: parent.imageRef,
    privateIp: '',
    cordoned: parent.cordoned,
    hasSnapshot: false,
    restartCount: 0,
    restartTimes: [],
    settleTo: 'created',
    lease: acquireLease(null, { machineId: id, ttlSeconds: FORK_LEASE_SECONDS, description: `fork of ${parent.id}`, owner: deps.settings.leaseOwner, nonce }, ctx.now, nonce),
    createdAt: ctx.now,
    updatedAt: ctx.now,
    rev: 0,
  };
  return insertWithName(deps, child, false, placer(deps, netNumber, parent.hostId), false);
}
