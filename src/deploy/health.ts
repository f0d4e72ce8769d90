/**
 * Waiting for a machine to be good after a deploy changed it, as flyctl does: its
 * new instance started, then every health check it has passing. Check results
 * older than the instance's start are the previous instance's and do not count.
 */
import type { DeployApi, MachineJson } from './api.ts';

const POLL_MS = 500;
const FAILED_STATES = new Set(['stopped', 'failed', 'destroyed', 'destroying', 'suspended']);

export class MachineNotGoodError extends Error {}

/** How many checks a config has: its named checks and those of its services. */
export function checkCount(config: MachineJson['config']): number {
  const services = Array.isArray(config.services) ? config.services as Array<{ checks?: unknown[] }> : [];
  return Object.keys((config.checks ?? {}) as object).length + services.reduce((sum, service) => sum + (service.checks?.length ?? 0), 0);
}

/** Resolves once `instanceId` of the machine runs and passes its checks; MachineNotGoodError when it does not by `deadline`; `signal`'s reason when it aborts. */
export async function untilGood(api: DeployApi, id: string, instanceId: string, deadline: number, signal?: AbortSignal): Promise<void> {
  const remaining = () => Math.max(0, (deadline - Date.now()) / 1000);
  for (;;) {
    signal?.throwIfAborted();
    if (await api.waitFor(id, 'started', Math.min(signal ? 2 : 10, remaining()), instanceId)) break;
    const machine = await api.getMachine(id);
    if (machine.instance_id === instanceId && FAILED_STATES.has(machine.state)) {
      throw new MachineNotGoodError(`machine ${id} is ${machine.state} instead of started: see \`hangar machine logs ${id}\``);
    }
    if (remaining() <= 0) throw new MachineNotGoodError(`machine ${id} did not start within the wait timeout (it is ${machine.state})`);
  }
  const startedAt = await lastStart(api, id);
  for (;;) {
    signal?.throwIfAborted();
    const machine = await api.getMachine(id);
    if (machine.state !== 'started') throw new MachineNotGoodError(`machine ${id} is ${machine.state} after it started: see \`hangar machine logs ${id}\``);
    const expected = checkCount(machine.config);
    const fresh = (machine.checks ?? []).filter((check) => Date.parse((check as { updated_at?: string }).updated_at ?? '') >= startedAt);
    if (fresh.length >= expected && fresh.every((check) => check.status === 'passing')) return;
    if (remaining() <= 0) {
      const failing = (machine.checks ?? []).filter((check) => check.status !== 'passing').map((check) => `${check.name} is ${check.status}${check.output ? ` (${check.output})` : ''}`);
      throw new MachineNotGoodError(`machine ${id} did not pass its health checks within the wait timeout: ${failing.join('; ') || 'not checked yet'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** When the machine last started (the server's clock, as its checks' times are). */
async function lastStart(api: DeployApi, id: string): Promise<number> {
  const events = await api.events(id);
  return Math.max(0, ...events.filter((event) => event.status === 'started').map((event) => event.timestamp ?? 0));
}
