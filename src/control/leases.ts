/**
 * Machine leases: acquire or refresh, show, release. Each answers the lease with
 * the machine's current version, which flyctl compares with the machine it holds.
 */
import { acquireLease, liveLease, parseTtl, releaseLease, type Lease } from '../domain/lease.ts';
import { HangarError, invalid } from '../domain/errors.ts';
import { loadMachine, writeMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';

export interface LeaseInput {
  ttl?: unknown;
  description?: unknown;
  nonce?: string;
}

/** A live lease and the version of the machine it is on. */
export interface LeaseView {
  lease: Lease;
  version: string;
}

export async function acquireMachineLease(deps: ControlDeps, appName: string, id: string, input: LeaseInput): Promise<LeaseView> {
  const ttlSeconds = parseTtl(input.ttl);
  if (input.description !== undefined && typeof input.description !== 'string') throw invalid('description must be a string');
  const { after } = await writeMachine(deps, appName, id, {}, (machine, ctx) => {
    if (machine.state === 'destroyed') throw new HangarError('invalid_state', `machine ${id} is destroyed`);
    const request = { machineId: id, nonce: input.nonce, ttlSeconds, description: (input.description as string | undefined) ?? '', owner: deps.settings.leaseOwner };
    const lease = acquireLease(machine.lease, request, ctx.now, deps.ids.nonce());
    return { machine: { ...machine, lease, updatedAt: ctx.now }, events: [], effects: [] };
  });
  return { lease: after.lease as Lease, version: after.version };
}

export async function showMachineLease(deps: ControlDeps, appName: string, id: string): Promise<LeaseView> {
  const machine = await loadMachine(deps, appName, id);
  const lease = liveLease(machine.lease, deps.clock.now());
  if (!lease) throw new HangarError('not_found', `lease not found for machine ${id}`);
  return { lease, version: machine.version };
}

export async function releaseMachineLease(deps: ControlDeps, appName: string, id: string, nonce: string | undefined): Promise<void> {
  await writeMachine(deps, appName, id, {}, (machine, ctx) => {
    const lease = releaseLease(id, machine.lease, nonce, ctx.now);
    return { machine: { ...machine, lease, updatedAt: ctx.now }, events: [], effects: [] };
  });
}
