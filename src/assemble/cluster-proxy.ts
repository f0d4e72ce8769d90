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
import type { ControlDeps } from '../control/ports.ts';
import type { MachineRequest, MachineRequests, ProxyActivity, RequestedAction } from '../domain/ports.ts';
import type { MachineState } from '../domain/states.ts';
import { createEdgeProxy, type EdgeProxy } from '../proxy/edge-proxy.ts';
import { type MachineActions, ProxyError } from '../proxy/ports.ts';
import { controlActions } from './core.ts';
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

/**
 * How far behind the replicas' commits this host's directory may be, at worst: it
 * reads at most every 100 ms, woken by each commit; the rest is a busy host's margin.
 */
const DIRECTORY_LAG_MS = 3_000;

export function createClusterProxy(options: ClusterProxyOptions): Promise<EdgeProxy> {
  const { control, machines, settings, log } = options;
  const { hostId, defaultRegion } = control.settings;
  return createEdgeProxy({
    domain: DEFAULTS.proxyDomain, idleMs: DEFAULTS.autostopAfterMs, ...settings,
    machines: async (table) => table.followDirectory(machines),
    here: { hostId, region: defaultRegion },
    shared: { activity: options.activity, hostId },
    hostLost: (id) => machines.isLost(id),
    sandboxLagMs: DIRECTORY_LAG_MS,
    clock: control.clock, log, suspendMaxMemoryMb: control.settings.suspendMaxMemoryMb,
    actions: clusterActions(options),
  });
}

/** Here, the normal actions; elsewhere, a request to the machine's host. */
function clusterActions({ control, machines, requests }: ClusterProxyOptions): MachineActions {
  const { hostId } = control.settings;
  const local = controlActions(control);
  const here = (id: string) => machines.get(id)?.hostId === hostId;
  const ask = async (id: string, action: RequestedAction): Promise<MachineState> => {
    const known = machines.get(id);
    if (!(await requests.ask(id, action))) throw new ProxyError(503, `machine ${id} is gone`);
    return (known?.state ?? 'stopped') as MachineState;
  };
  return {
    start: async (app, id) => (here(id) ? local.start(app, id) : { previousState: await ask(id, 'start') }),
    stop: async (app, id) => {
      if (here(id)) await local.stop(app, id);
      else await ask(id, 'stop');
    },
    suspend: async (app, id) => {
      if (here(id)) await local.suspend(app, id);
      else await ask(id, 'suspend');
    },
  };
}

/** What a host does when another host's proxy asks: the normal action, as its API would take it. */
export function actOnRequest(control: ControlDeps, request: MachineRequest): Promise<unknown> {
  return controlActions(control)[request.action](request.appName, request.machineId);
}
