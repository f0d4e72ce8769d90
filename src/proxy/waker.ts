/**
 * Autostart: starts (or resumes) a machine for the requests that need it, and
 * resolves once the machine answers on the port and passes its health checks.
 * Requests arriving meanwhile wait for the same wake.
 */
import { errorMessage } from '../domain/errors.ts';
import type { HealthMonitor } from './health-monitor.ts';
import type { LoadTracker } from './load-tracker.ts';
import type { MachineTable } from './machine-table.ts';
import { type MachineActions, type ProxyMachine, ProxyError } from './ports.ts';
import { accepts, type Upstreams } from './upstream.ts';

const POLL_MS = 10;

export type WakeKind = 'resume' | 'cold';

export interface WakerOptions {
  table: MachineTable;
  actions: MachineActions;
  health: HealthMonitor;
  loads: LoadTracker;
  upstreams: Upstreams;
  /** How long a wake may take before the held requests get a 503. */
  timeoutMs: number;
  onWake?: (machine: ProxyMachine, kind: WakeKind, outcome: 'ok' | 'failed', ms: number) => void;
}

export class Waker {
  private readonly wakes = new Map<string, Promise<void>>();
  private readonly options: WakerOptions;

  constructor(options: WakerOptions) {
    this.options = options;
  }

  isWaking(id: string): boolean {
    return this.wakes.has(id);
  }

  /** Wakes `machine` so that it serves `internalPort`, or joins the wake under way. */
  wake(machine: ProxyMachine, internalPort: number): Promise<void> {
    let wake = this.wakes.get(machine.id);
    if (!wake) {
      wake = this.run(machine, internalPort).finally(() => this.wakes.delete(machine.id));
      this.wakes.set(machine.id, wake);
    }
    return wake;
  }

  /** The wake under way for `id`, if any. */
  pending(id: string): Promise<void> | undefined {
    return this.wakes.get(id);
  }

  private async run(machine: ProxyMachine, internalPort: number): Promise<void> {
    const { table, actions, health, loads, upstreams, timeoutMs } = this.options;
    const began = performance.now();
    const deadline = Date.now() + timeoutMs;
    let kind: WakeKind = machine.state === 'suspended' ? 'resume' : 'cold';
    try {
      if (machine.state !== 'started' && machine.state !== 'starting') {
        const { previousState } = await actions.start(machine.appName, machine.id).catch((error: unknown) => {
          throw new ProxyError(503, `could not start machine ${machine.id}: ${errorMessage(error)}`);
        });
        kind = previousState === 'suspended' || previousState === 'suspending' ? 'resume' : 'cold';
      }
      await until(deadline, () => {
        const state = table.get(machine.id)?.state;
        if (state === 'failed' || state === 'destroyed' || state === 'launch_failed') {
          throw new ProxyError(503, `machine ${machine.id} did not start: it is ${state}`);
        }
        return state === 'started';
      }, `machine ${machine.id} did not start within ${timeoutMs} ms`);
      const started = table.get(machine.id) as ProxyMachine;
      const address = upstreams(started, internalPort);
      await untilAsync(deadline, () => accepts(address, 1000), `machine ${machine.id} started but nothing answers on port ${internalPort}`);
      if (health.hasChecks(started)) {
        await untilAsync(deadline, async () => {
          await health.checkNow(machine.id);
          return health.healthy(machine.id);
        }, `machine ${machine.id} started but does not pass its health checks`);
      }
      loads.touch(machine.id);
      this.options.onWake?.(machine, kind, 'ok', performance.now() - began);
    } catch (error) {
      this.options.onWake?.(machine, kind, 'failed', performance.now() - began);
      throw error instanceof ProxyError ? error : new ProxyError(503, errorMessage(error));
    }
  }
}

async function until(deadline: number, ready: () => boolean, timeoutMessage: string): Promise<void> {
  await untilAsync(deadline, async () => ready(), timeoutMessage);
}

async function untilAsync(deadline: number, ready: () => Promise<boolean>, timeoutMessage: string): Promise<void> {
  for (;;) {
    if (await ready()) return;
    if (Date.now() > deadline) throw new ProxyError(503, timeoutMessage);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
