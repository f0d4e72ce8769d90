/**
 * Runs each started machine's health checks (tcp: a connection is accepted; http:
 * the answer's status is 2xx or 3xx) on their intervals, and keeps the latest
 * status of each for routing and for the machine's `checks` in the API. Nothing a
 * check holds, or a run meets, gets out of here: a check that cannot be run is
 * `critical` with the reason as its output.
 *
 * In a cluster, each host agent runs one over its own machines only, and hands
 * every change of a machine's results on to be recorded for the replicas.
 */
import { request } from 'node:http';
import type { Logger } from 'pino';
import { errorMessage } from '../domain/errors.ts';
import type { CheckReport, Clock, HealthReports } from '../domain/ports.ts';
import { type CheckSpec, type CheckStatus, checkSpecs, statusAfter } from './table/checks.ts';
import type { MachineTable } from './machine-table.ts';
import type { ProxyMachine } from './ports.ts';
import { accepts, type Address, type Upstreams } from './upstream.ts';

/** A result as the API shows it, with Fly's status words. */
export interface CheckResult extends CheckReport {
  status: CheckStatus;
}

interface Watched {
  version: string;
  specs: CheckSpec[];
  results: Map<string, CheckResult>;
  /** The next run of each check, by name: one timer each, replaced as it fires. */
  timers: Map<string, NodeJS.Timeout>;
  startedAt: number;
}

export interface HealthMonitorOptions {
  /** The machines whose checks this monitor runs (a host agent's: its own); all when absent. */
  only?: (machine: ProxyMachine) => boolean;
  /** Hears a machine's results each time one of them changes status or output, and [] when it has none any more. */
  onResults?: (machineId: string, results: CheckResult[]) => void;
}

export class HealthMonitor implements HealthReports {
  private readonly watched = new Map<string, Watched>();
  private readonly table: MachineTable;
  private readonly upstreams: Upstreams;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly options: HealthMonitorOptions;
  private unsubscribe: (() => void) | undefined;

  constructor(table: MachineTable, upstreams: Upstreams, clock: Clock, log: Logger, options: HealthMonitorOptions = {}) {
    this.table = table;
    this.upstreams = upstreams;
    this.clock = clock;
    this.log = log;
    this.options = options;
  }

  start(): void {
    for (const machine of this.table.all()) this.sync(machine);
    this.unsubscribe = this.table.onChange((machine) => this.sync(machine));
  }

  /** Stops running checks; what was last recorded of them stays (the next monitor replaces it). */
  stop(): void {
    this.unsubscribe?.();
    for (const id of [...this.watched.keys()]) this.unwatch(id, false);
  }

  /** No check, or every check passing. */
  healthy(id: string): boolean {
    const watched = this.watched.get(id);
    if (!watched) return true;
    return watched.specs.every((spec) => watched.results.get(spec.name)?.status === 'passing');
  }

  hasChecks(machine: ProxyMachine): boolean {
    return checkSpecs(machine.config).length > 0;
  }

  /** The machine's checks as the API shows them. */
  statusOf(id: string): CheckResult[] {
    return [...(this.watched.get(id)?.results.values() ?? [])];
  }

  async checksOf(machineIds: readonly string[]): Promise<Map<string, CheckReport[]>> {
    return new Map(machineIds.flatMap((id) => {
      const results = this.statusOf(id);
      return results.length > 0 ? [[id, results]] : [];
    }));
  }

  /** Runs every check of the machine now; resolves when they have all answered. */
  async checkNow(id: string): Promise<void> {
    const watched = this.watched.get(id);
    const machine = this.table.get(id);
    if (!watched || !machine) return;
    await Promise.all(watched.specs.map((spec) => this.run(machine, watched, spec)));
  }

  private sync(machine: ProxyMachine): void {
    try {
      this.watch(machine);
    } catch (error) {
      this.unwatch(machine.id);
      this.log.error({ machineId: machine.id, err: error }, 'health checks: cannot watch the machine');
    }
  }

  private watch(machine: ProxyMachine): void {
    const watched = this.watched.get(machine.id);
    const wanted = machine.state === 'started' && (this.options.only?.(machine) ?? true) ? checkSpecs(machine.config) : [];
    if (watched && (wanted.length === 0 || watched.version !== machine.version)) this.unwatch(machine.id);
    if (wanted.length === 0 || this.watched.has(machine.id)) return;
    const now = this.clock.now();
    const results = new Map(wanted.map((spec) => [spec.name, { name: spec.name, status: 'warning' as CheckStatus, output: 'not checked yet', updatedAt: now }]));
    const fresh: Watched = { version: machine.version, specs: wanted, results, timers: new Map(), startedAt: now };
    this.watched.set(machine.id, fresh);
    this.options.onResults?.(machine.id, [...results.values()]);
    for (const spec of wanted) {
      const tick = () => {
        void this.run(machine, fresh, spec).finally(() => {
          if (this.watched.get(machine.id) === fresh) fresh.timers.set(spec.name, setTimeout(tick, spec.intervalMs).unref());
        });
      };
      tick();
    }
  }

  private unwatch(id: string, tell = true): void {
    const watched = this.watched.get(id);
    if (!watched) return;
    for (const timer of watched.timers.values()) clearTimeout(timer);
    this.watched.delete(id);
    if (tell) this.options.onResults?.(id, []);
  }

  private async run(machine: ProxyMachine, watched: Watched, spec: CheckSpec): Promise<void> {
    const outcome = await this.attempt(machine, spec).catch((error: unknown) => ({ ok: false, output: `the check could not run: ${errorMessage(error)}` }));
    const now = this.clock.now();
    const before = watched.results.get(spec.name);
    const after: CheckResult = { name: spec.name, status: statusAfter(outcome.ok, now - watched.startedAt, spec), output: outcome.output, updatedAt: now };
    watched.results.set(spec.name, after);
    // A run after its machine stopped being watched (or was watched anew) tells nothing.
    if (this.watched.get(machine.id) !== watched || (before?.status === after.status && before.output === after.output)) return;
    this.options.onResults?.(machine.id, [...watched.results.values()]);
  }

  private async attempt(machine: ProxyMachine, spec: CheckSpec): Promise<{ ok: boolean; output: string }> {
    const address = this.upstreams(machine, spec.port);
    if (spec.type === 'http') return httpCheck(address, spec);
    return (await accepts(address, spec.timeoutMs)) ? { ok: true, output: 'connection accepted' } : { ok: false, output: `no connection to port ${spec.port}` };
  }
}

/** One HTTP check; `request` throws for what no request can carry, which rejects. */
function httpCheck(address: Address, spec: CheckSpec): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const req = request({ host: address.host, port: address.port, method: spec.method, path: spec.path, headers: spec.headers, timeout: spec.timeoutMs, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: status >= 200 && status < 400, output: `${spec.method} ${spec.path}: ${status}` });
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${spec.timeoutMs} ms`)));
    req.once('error', (error) => resolve({ ok: false, output: `${spec.method} ${spec.path}: ${error.message}` }));
    req.end();
  });
}
