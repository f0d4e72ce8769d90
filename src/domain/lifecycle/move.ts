/**
 * A machine moved to another host (Fly's `migrated`). This first form moves only
 * what has nothing on its host worth carrying: a machine stopped or just created,
 * with no volume and a root filesystem that a cold boot starts blank anyway. It
 * takes the address its new host gives it (as Fly's migrations do) and boots cold
 * there at its next start.
 */
import { HangarError } from '../errors.ts';
import type { MachineRecord } from '../machine.ts';
import { type Decision, type DecisionContext, makeEvent } from './decision.ts';

/** Where the machine goes: the host, and the address the host's number gives it. */
export interface MoveTarget {
  hostId: string;
  privateIp: string;
}

/** Why the machine cannot move now (to `targetHostId`, if known yet), as the API refuses it, or null. */
export function moveRefusal(machine: MachineRecord, targetHostId?: string): HangarError | null {
  if (targetHostId !== undefined && machine.hostId === targetHostId) return new HangarError('invalid_argument', `machine ${machine.id} is on host ${targetHostId} already`);
  if (machine.configProblem !== undefined) return new HangarError('invalid_state', `machine ${machine.id}'s stored config is invalid: update or destroy it`);
  if (machine.state === 'started' || machine.state === 'suspended' || machine.state === 'suspending' || machine.state === 'starting') {
    return new HangarError('conflict', `machine ${machine.id} is ${machine.state}: only a stopped machine can move yet`, 'stop it first');
  }
  if (machine.state !== 'stopped' && machine.state !== 'created') return new HangarError('invalid_state', `cannot move machine ${machine.id}: machine is ${machine.state}`);
  if ((machine.config.mounts ?? []).length > 0) {
    return new HangarError('invalid_state', `machine ${machine.id} mounts a volume: volumes do not move between hosts yet`);
  }
  const persist = machine.config.rootfs?.persist;
  if (persist === 'restart' || persist === 'always') {
    return new HangarError('invalid_state', `machine ${machine.id} keeps its root filesystem (rootfs.persist ${persist}): it does not move between hosts yet`);
  }
  return null;
}

export function decideMove(machine: MachineRecord, target: MoveTarget, ctx: DecisionContext): Decision {
  const refusal = moveRefusal(machine, target.hostId);
  if (refusal) throw refusal;
  const next: MachineRecord = { ...machine, hostId: target.hostId, privateIp: target.privateIp, privateIpv4: undefined, updatedAt: ctx.now };
  return {
    machine: next,
    events: [makeEvent(ctx, next, 'migrate', machine.state, 'user', { from_host: machine.hostId, to_host: target.hostId })],
    effects: [],
  };
}
