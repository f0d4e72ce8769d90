/**
 * Picks the machine for one request or connection to an app's public port, wakes
 * one when the rules say so, and counts the load on it until the caller releases.
 * A request that finds every machine at its hard limit waits for room; one that
 * finds a machine passing between states (a stop under way) waits for it to
 * settle, then routes again: a proxy that learns of changes a moment late (a
 * cluster's directory) still wakes a machine that has just stopped.
 */
import { sandboxRouting } from '../e2b/sandbox-machine.ts';
import { MACHINE_ID } from '../domain/names.ts';
import type { HealthMonitor } from './health-monitor.ts';
import type { LoadTracker } from './load-tracker.ts';
import type { MachineTable } from './machine-table.ts';
import { type ProxyMachine, ProxyError } from './ports.ts';
import { chooseRoute, type RouteCandidate } from './table/balance.ts';
import { type ServiceBinding, serviceOn, speaksHttp } from './table/services.ts';
import type { Address, Upstreams } from './upstream.ts';
import type { Waker } from './waker.ts';

export interface Routed {
  machine: ProxyMachine;
  binding: ServiceBinding;
  address: Address;
  /** Ends the request's share of the machine's load. */
  release: () => void;
}

export interface RouterOptions {
  table: MachineTable;
  loads: LoadTracker;
  health: HealthMonitor;
  waker: Waker;
  upstreams: Upstreams;
  /** How long a request waits for room when every machine is at its hard limit. */
  queueTimeoutMs: number;
  /** Where this proxy runs, in a cluster: machines on its host come first, then those of its region. */
  here?: { hostId: string; region: string };
  /** In a cluster: whether a host was declared lost (its machines get no traffic). */
  hostLost?: (hostId: string) => boolean;
  /**
   * In a cluster: how long the table may lag the replicas' commits. An E2B SDK
   * calls its sandbox the moment a replica answers that it was made or resumed,
   * and this host may not have read that yet: a sandbox request that finds its
   * sandbox unknown, not yet made a sandbox, or not running waits this long for
   * the table to change before it is answered. None (one host): no wait.
   */
  sandboxLagMs?: number;
}

/** Sandbox requests waiting at once for the table to catch up (sandboxLagMs); past it, they are answered as it stands. */
const MAX_SANDBOX_WAITS = 1_000;

/** A sandbox that is gone or paused: E2B's 502 (proxy/sandbox-target.ts). */
export class SandboxGone extends Error {
  readonly sandboxId: string;
  constructor(sandboxId: string) {
    super(`sandbox ${sandboxId} is not running`);
    this.sandboxId = sandboxId;
  }
}

export class Router {
  private readonly options: RouterOptions;
  private readonly roomWaiters = new Set<() => void>();
  private turn = 0;
  private sandboxWaits = 0;

  constructor(options: RouterOptions) {
    this.options = options;
  }

  /** Some machine's load dropped: requests waiting for room look again. */
  roomMade(): void {
    for (const wake of [...this.roomWaiters]) wake();
  }

  /** Whether the app has machines at all (else the proxy answers 404). */
  knows(appName: string): boolean {
    return this.options.table.ofApp(appName).length > 0;
  }

  /** The service behind the app's public port, as the first machine serving it has it. */
  bindingOf(appName: string, port: number): ServiceBinding | undefined {
    for (const machine of this.options.table.ofApp(appName)) {
      const binding = serviceOn(machine.config, port);
      if (binding) return binding;
    }
    return undefined;
  }

  async route(appName: string, port: number, wantsHttp: boolean): Promise<Routed> {
    const { table, loads, health, waker } = this.options;
    const deadline = Date.now() + this.options.queueTimeoutMs;
    for (;;) {
      const candidates: RouteCandidate[] = [];
      const lost = new Set<string>();
      for (const machine of table.ofApp(appName)) {
        const binding = serviceOn(machine.config, port);
        if (!binding || speaksHttp(binding) !== wantsHttp) continue;
        if (machine.hostId !== undefined && this.options.hostLost?.(machine.hostId)) {
          lost.add(machine.hostId);
          continue;
        }
        candidates.push({
          id: machine.id, state: machine.state, cordoned: machine.cordoned, healthy: health.healthy(machine.id),
          load: loads.load(machine.id), waking: waker.isWaking(machine.id), binding, distance: this.distance(machine),
        });
      }
      const route = chooseRoute(candidates, this.turn++);
      if (route.kind === 'unavailable') {
        const reason = candidates.length === 0 && lost.size > 0 ? `every machine serving this port is on a lost host (${[...lost].sort().join(', ')})` : route.reason;
        throw new ProxyError(503, `app ${appName}, port ${port}: ${reason}`);
      }
      if (route.kind === 'wait') {
        if (!(await this.waitForRoom(deadline))) throw new ProxyError(503, `app ${appName}, port ${port}: every machine is at its hard limit`);
        continue;
      }
      if (route.kind === 'settle') {
        if (!(await this.waitForChange(appName, deadline))) throw new ProxyError(503, `app ${appName}, port ${port}: no machine settled in a state that can serve`);
        continue;
      }
      const machine = table.get(route.id) as ProxyMachine;
      const { binding } = candidates.find((c) => c.id === route.id) as RouteCandidate;
      return this.routed(machine, binding, async () => {
        if (route.kind === 'wake') await waker.wake(machine, binding.internalPort);
        if (route.kind === 'join') await waker.pending(route.id);
      });
    }
  }

  /** The machine with its load counted, once `ready` (a wake) is done; a wake that fails counts nothing. */
  private async routed(machine: ProxyMachine, binding: ServiceBinding, ready: () => Promise<void>): Promise<Routed> {
    const { table, loads, upstreams } = this.options;
    const release = loads.acquire(machine.id);
    try {
      await ready();
    } catch (error) {
      release();
      throw error;
    }
    const current = table.get(machine.id) ?? machine;
    return { machine: current, binding, address: upstreams(current, binding.internalPort), release };
  }

  /**
   * A port of an E2B sandbox, named by its id (proxy/sandbox-target.ts): undefined
   * for an id that is no sandbox's (then the request is an app's). A sandbox that
   * is not running is `SandboxGone`, unless it is suspended and its lifecycle lets
   * traffic resume it. Ports of machines that are not sandboxes are never reached so.
   * In a cluster, a sandbox the table does not show reachable is first given
   * `sandboxLagMs` to become so.
   */
  async routeSandbox(id: string, port: number): Promise<Routed | undefined> {
    const { table, waker } = this.options;
    const deadline = Date.now() + (this.options.sandboxLagMs ?? 0);
    for (;;) {
      const machine = table.get(id);
      const routing = sandboxRouting(machine?.config.metadata);
      const reachable = machine !== undefined && routing.sandbox
        && (machine.state === 'started' || (machine.state === 'suspended' && routing.autoResume));
      if (!reachable && await this.waitForMachine(id, deadline)) continue;
      if (!machine || !routing.sandbox) return undefined;
      if (!reachable) throw new SandboxGone(id);
      const binding: ServiceBinding = {
        internalPort: port, handlers: ['http'], forceHttps: false, concurrency: { type: 'requests', softLimit: 0, hardLimit: 0 },
        autostart: false, autostop: false, minMachinesRunning: 0,
      };
      return this.routed(machine, binding, async () => {
        if (machine.state !== 'started') await waker.wake(machine, port);
      });
    }
  }

  private distance(machine: ProxyMachine): number {
    const { here } = this.options;
    if (!here || machine.hostId === here.hostId) return 0;
    return machine.region === here.region ? 1 : 2;
  }

  private waitForRoom(deadline: number): Promise<boolean> {
    return until(deadline, (done) => {
      this.roomWaiters.add(done);
      return () => this.roomWaiters.delete(done);
    });
  }

  /**
   * Until machine `id` changes (true), or the deadline (false). Anyone may name
   * any id: an id no machine can have is not waited for, nor is any once
   * `MAX_SANDBOX_WAITS` requests wait.
   */
  private async waitForMachine(id: string, deadline: number): Promise<boolean> {
    if (!MACHINE_ID.test(id) || this.sandboxWaits >= MAX_SANDBOX_WAITS) return false;
    this.sandboxWaits++;
    try {
      return await until(deadline, (done) => this.options.table.onChangeOf(id, done));
    } finally {
      this.sandboxWaits--;
    }
  }

  /** Until some machine of the app changes (true), or the deadline (false). */
  private waitForChange(appName: string, deadline: number): Promise<boolean> {
    return until(deadline, (done) => this.options.table.onChangeOfApp(appName, done));
  }
}

/** True once `subscribe` calls back, false at the deadline; the subscription ends either way. */
function until(deadline: number, subscribe: (done: () => void) => () => void): Promise<boolean> {
  const left = deadline - Date.now();
  if (left <= 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const finish = (happened: boolean) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(happened);
    };
    const timer = setTimeout(() => finish(false), left);
    const unsubscribe = subscribe(() => finish(true));
  });
}
