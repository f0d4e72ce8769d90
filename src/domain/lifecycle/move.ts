/**
 * A machine moved to another host (Fly's `migrated`). This first form moves only
 * what has nothing on its host worth carrying: a machine stopped or just created,
 * with no volume and a root filesystem that a cold boot starts blank anyway. It
 * keeps its 6PN address (Fly's migrations change it; here peers and `.internal`
 * answers see no change) and boots cold there at its next start.
 */
import { HangarError } from '../errors.ts';
import type { MachineRecord } from '../machine.ts';
import { type Decision, type DecisionContext, makeEvent } from './decision.ts';

/** Where the machine goes: the host, and its region, which becomes the machine's. */
export interface MoveTarget {
  hostId: string;
  region: string;
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
  // Its 6PN address goes with it (peers route it to its new host as a /128); its IPv4 address is host-local.
  const next: MachineRecord = { ...machine, hostId: target.hostId, region: target.region, privateIpv4: undefined, updatedAt: ctx.now };
  return {
    machine: next,
    events: [makeEvent(ctx, next, 'migrate', machine.state, 'user', { from_host: machine.hostId, to_host: target.hostId, ...(target.region !== machine.region ? { from_region: machine.region, to_region: target.region } : {}) })],
    effects: [],
  };
}
