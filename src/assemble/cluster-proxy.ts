/**
 * The edge proxy of a cluster's host: it routes to every host's machines, from
 * the cluster's directory (kept by the change feed, so no request reads the
 * database), its own host's first, then its region's, reaching other hosts'
 * machines over the private network. It starts and retires machines on its own
 * host as its API would; a machine on another host it asks that host to start,
 * stop or suspend (machine requests, taken by request-loop.ts there), and holds
 * the request until the machine answers, as for a local wake. The hosts share
 * their traffic (shared-loads.ts), so limits and idleness are the cluster's, and one
 * host decides each (app, region)'s autostop.
 */
import type { Logger } from 'pino';
import type { DirectoryTable } from '../cluster/directory-table.ts';
import { startMachine, stopMachine, suspendMachine } from '../control/actions.ts';
import type { ControlDeps } from '../control/ports.ts';
import type { MachineRequest, MachineRequests, ProxyActivity, RequestedAction } from '../domain/ports.ts';
import type { MachineState } from '../domain/states.ts';
import { createEdgeProxy, type EdgeProxy } from '../proxy/edge-proxy.ts';
import { type MachineActions, ProxyError } from '../proxy/ports.ts';
import type { ProxySettings } from './options.ts';
import { DEFAULTS } from '../config.ts';

export interface ClusterProxyOptions {
  control: ControlDeps;
  machines: DirectoryTable;
  requests: MachineRequests;
  activity: ProxyActivity;
  settings?: ProxySettings;
  log: Logger;
}

export function createClusterProxy(options: ClusterProxyOptions): Promise<EdgeProxy> {
  const { control, machines, settings, log } = options;
  const { hostId, defaultRegion } = control.settings;
  return createEdgeProxy({
    domain: DEFAULTS.proxyDomain, idleMs: DEFAULTS.autostopAfterMs, ...settings,
    machines: async (table) => table.followDirectory(machines),
    here: { hostId, region: defaultRegion },
    shared: { activity: options.activity, hostId },
    hostLost: (id) => machines.isLost(id),
    clock: control.clock, log, suspendMaxMemoryMb: control.settings.suspendMaxMemoryMb,
    actions: clusterActions(options),
  });
}

/** Here, the normal actions; elsewhere, a request to the machine's host. */
function clusterActions({ control, machines, requests }: ClusterProxyOptions): MachineActions {
  const { hostId } = control.settings;
  const ask = async (id: string, action: RequestedAction): Promise<MachineState> => {
    const known = machines.get(id);
    if (!(await requests.ask(id, action))) throw new ProxyError(503, `machine ${id} is gone`);
    return (known?.state ?? 'stopped') as MachineState;
  };
  const here = (id: string) => machines.get(id)?.hostId === hostId;
  return {
    start: async (app, id) => (here(id) ? startMachine(control, app, id, undefined) : { previousState: await ask(id, 'start') }),
    stop: async (app, id) => {
      if (here(id)) await stopMachine(control, app, id, {}, undefined);
      else await ask(id, 'stop');
    },
    suspend: async (app, id) => {
      if (here(id)) await suspendMachine(control, app, id, undefined);
      else await ask(id, 'suspend');
    },
  };
}

/** What a host does when another host's proxy asks: the normal action, as its API would take it. */
export function actOnRequest(control: ControlDeps, request: MachineRequest): Promise<unknown> {
  const { appName, machineId } = request;
  if (request.action === 'start') return startMachine(control, appName, machineId, undefined);
  if (request.action === 'stop') return stopMachine(control, appName, machineId, {}, undefined);
  return suspendMachine(control, appName, machineId, undefined);
}
