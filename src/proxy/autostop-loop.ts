/**
 * Autostop and autosuspend: every pass looks at each app's running machines, per
 * region as Fly does, and retires the idle ones the rules allow
 * (table/autostop.ts). `suspend` falls back to a stop when the machine cannot be
 * suspended.
 */
import type { Logger } from 'pino';
import type { Clock } from '../domain/ports.ts';
import { errorMessage } from '../domain/errors.ts';
import { suspendRefusal } from '../domain/suspend.ts';
import type { LoadTracker } from './load-tracker.ts';
import type { MachineTable } from './machine-table.ts';
import type { MachineActions, ProxyMachine } from './ports.ts';
import { chooseRetirements, type IdleCandidate, primaryRegion, type Retirement } from './table/autostop.ts';
import { publicPorts, serviceOn } from './table/services.ts';
import type { Waker } from './waker.ts';

export interface AutostopOptions {
  table: MachineTable;
  loads: LoadTracker;
  waker: Waker;
  actions: MachineActions;
  clock: Clock;
  log: Logger;
  /** How long a machine must have been idle. */
  idleMs: number;
  suspendMaxMemoryMb: number;
  onRetire?: (appName: string, machineId: string, action: Retirement['action']) => void;
  /** In a cluster: whether this proxy decides for this (app, region) group of running machines (one proxy does). */
  leads?: (group: readonly ProxyMachine[]) => boolean;
}

/** Starts the loop; returns its stop. A pass runs every quarter of the idle period (at most every 15 s). */
export function startAutostop(options: AutostopOptions): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void autostopPass(options).finally(() => { running = false; });
  }, Math.min(15_000, Math.max(100, options.idleMs / 4)));
  timer.unref();
  return () => clearInterval(timer);
}

export async function autostopPass(options: AutostopOptions): Promise<Retirement[]> {
  const { table, loads, waker, actions, clock, log } = options;
  const now = clock.now();
  // Fly decides per region; min_machines_running holds in the app's primary region only.
  const groups = new Map<string, { appName: string; region: string; machines: ProxyMachine[] }>();
  for (const machine of table.all()) {
    if (machine.state !== 'started' || machine.cordoned || waker.isWaking(machine.id)) continue;
    const key = `${machine.appName}\0${machine.region}`;
    const group = groups.get(key) ?? { appName: machine.appName, region: machine.region, machines: [] };
    group.machines.push(machine);
    groups.set(key, group);
  }
  const retired: Retirement[] = [];
  for (const { appName, region, machines } of groups.values()) {
    if (options.leads && !options.leads(machines)) continue;
    const primary = primaryRegion(table.ofApp(appName));
    const candidates: IdleCandidate[] = [];
    for (const machine of machines) {
      // A machine's first public port stands for its services.
      const port = publicPorts(machine.config)[0];
      const binding = port === undefined ? undefined : serviceOn(machine.config, port);
      if (!binding) continue;
      candidates.push({
        id: machine.id,
        load: loads.load(machine.id),
        softLimit: binding.concurrency.softLimit,
        lastActive: Math.max(loads.lastActive(machine.id), table.startedSince(machine.id)),
        autostop: binding.autostop,
        minMachinesRunning: region === primary ? binding.minMachinesRunning : 0,
        suspendable: suspendRefusal(machine.config, options.suspendMaxMemoryMb) === null,
      });
    }
    for (const retirement of chooseRetirements(candidates, now, options.idleMs)) {
      try {
        if (retirement.action === 'suspend') await actions.suspend(appName, retirement.id);
        else await actions.stop(appName, retirement.id);
        retired.push(retirement);
        options.onRetire?.(appName, retirement.id, retirement.action);
        log.info({ app: appName, machine: retirement.id, action: retirement.action }, `proxy: ${retirement.action === 'suspend' ? 'suspended' : 'stopped'} idle machine ${retirement.id}`);
      } catch (error) {
        log.warn({ app: appName, machine: retirement.id, err: errorMessage(error) }, `proxy: could not ${retirement.action} idle machine ${retirement.id}`);
      }
    }
  }
  return retired;
}
