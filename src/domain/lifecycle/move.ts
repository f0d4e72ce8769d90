/**
 * A machine moved to another host (Fly's `migrated`): one stopped or just created
 * (nothing on its host worth carrying: a cold boot starts its root filesystem
 * blank), or one suspended, whose snapshot is carried to the new host first and
 * resumes there; a volume it mounts goes with it, within its region. A started
 * machine is suspended or stopped first (control/move.ts). It keeps its 6PN address
 * (Fly's migrations change it; here peers and `.internal` answers see no change).
 * Machines whose root filesystem is kept across boots do not move yet.
 */
import { HangarError } from '../errors.ts';
import type { MachineRecord } from '../machine.ts';
import { type Decision, type DecisionContext, makeEvent } from './decision.ts';

/** States a machine can move from: nothing runs, and whatever it holds (a snapshot) can be carried. */
const MOVABLE = new Set(['stopped', 'created', 'suspended']);

/** Where the machine goes: the host, and its region, which becomes the machine's. */
export interface MoveTarget {
  hostId: string;
  region: string;
}

/** Why the machine cannot move now (to `target`, if known yet), as the API refuses it, or null. */
export function moveRefusal(machine: MachineRecord, target?: MoveTarget): HangarError | null {
  if (target !== undefined && machine.hostId === target.hostId) return new HangarError('invalid_argument', `machine ${machine.id} is on host ${target.hostId} already`);
  if (machine.configProblem !== undefined) return new HangarError('invalid_state', `machine ${machine.id}'s stored config is invalid: update or destroy it`);
  if (machine.state === 'started') {
    return new HangarError('conflict', `machine ${machine.id} is started: a move suspends it first (its memory goes with it) or stops it`, 'ask for suspend or stop');
  }
  if (machine.state === 'suspending' || machine.state === 'starting' || machine.state === 'stopping') {
    return new HangarError('conflict', `machine ${machine.id} is ${machine.state}: it moves once that is over`, 'wait for it, and try again');
  }
  if (!MOVABLE.has(machine.state)) return new HangarError('invalid_state', `cannot move machine ${machine.id}: machine is ${machine.state}`);
  if ((machine.config.mounts ?? []).length > 0 && target !== undefined && target.region !== machine.region) {
    return new HangarError('invalid_argument', `machine ${machine.id} mounts a volume, which stays in region ${machine.region}: it cannot move to ${target.region}`);
  }
  const persist = machine.config.rootfs?.persist;
  if (persist === 'restart' || persist === 'always') {
    return new HangarError('invalid_state', `machine ${machine.id} keeps its root filesystem (rootfs.persist ${persist}): it does not move between hosts yet`);
  }
  return null;
}

export function decideMove(machine: MachineRecord, target: MoveTarget, ctx: DecisionContext): Decision {
  const refusal = moveRefusal(machine, target);
  if (refusal) throw refusal;
  // Its 6PN address goes with it (peers route it to its new host as a /128); its IPv4 address is host-local.
  const next: MachineRecord = { ...machine, hostId: target.hostId, region: target.region, privateIpv4: undefined, updatedAt: ctx.now };
  return {
    machine: next,
    events: [makeEvent(ctx, next, 'migrate', machine.state, 'user', { from_host: machine.hostId, to_host: target.hostId, ...(target.region !== machine.region ? { from_region: machine.region, to_region: target.region } : {}) })],
    effects: [],
  };
}
