/** Machine actions: start, stop, restart, suspend, signal, cordon, uncordon, exec, ps, wait. */
import {
  execMachine, machineMemory, psMachine, reclaimMachineMemory, restartMachine, setCordoned, setMachineMemoryLimit,
  signalMachine, startMachine, stopMachine, suspendMachine,
} from '../../control/actions.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { waitMachine } from '../../control/waiting.ts';
import {
  ExecBody, MachineParams, MemoryLimitBody, ReclaimMemoryBody, RestartQuery, SignalBody, StopBody, WaitQuery,
} from '../schemas.ts';
import { type Api, leaseNonce, OK } from './types.ts';

const tags = ['Machines'];

export function machineActionRoutes(api: Api, deps: ControlDeps): void {
  api.post('/v1/apps/:app_name/machines/:machine_id/start', { schema: { operationId: 'Machines_start', tags, params: MachineParams } }, async (request) => {
    const { previousState } = await startMachine(deps, request.params.app_name, request.params.machine_id, leaseNonce(request));
    return { previous_state: previousState, migrated: false, new_host: '' };
  });

  api.post('/v1/apps/:app_name/machines/:machine_id/stop', { schema: { operationId: 'Machines_stop', tags, params: MachineParams, body: StopBody } }, async (request) => {
    await stopMachine(deps, request.params.app_name, request.params.machine_id, request.body ?? {}, leaseNonce(request));
    return OK;
  });

  api.post('/v1/apps/:app_name/machines/:machine_id/restart', { schema: { operationId: 'Machines_restart', tags, params: MachineParams, querystring: RestartQuery } }, async (request) => {
    const { signal, timeout, force_stop } = request.query;
    const options = force_stop ? { force: true } : { signal, timeout };
    await restartMachine(deps, request.params.app_name, request.params.machine_id, options, leaseNonce(request));
    return OK;
  });

  api.post('/v1/apps/:app_name/machines/:machine_id/suspend', { schema: { operationId: 'Machines_suspend', tags, params: MachineParams } }, async (request) => {
    await suspendMachine(deps, request.params.app_name, request.params.machine_id, leaseNonce(request));
    return OK;
  });

  api.post('/v1/apps/:app_name/machines/:machine_id/signal', { schema: { operationId: 'Machines_signal', tags, params: MachineParams, body: SignalBody } }, async (request) => {
    await signalMachine(deps, request.params.app_name, request.params.machine_id, request.body.signal);
    return OK;
  });

  for (const [verb, cordoned] of [['cordon', true], ['uncordon', false]] as const) {
    const operationId = cordoned ? 'Machines_cordon' : 'Machines_uncordon';
    api.post(`/v1/apps/:app_name/machines/:machine_id/${verb}`, { schema: { operationId, tags, params: MachineParams } }, async (request) => {
      await setCordoned(deps, request.params.app_name, request.params.machine_id, cordoned, leaseNonce(request));
      return OK;
    });
  }

  api.post('/v1/apps/:app_name/machines/:machine_id/exec', { schema: { operationId: 'Machines_exec', tags, params: MachineParams, body: ExecBody } }, async (request) => {
    return execMachine(deps, request.params.app_name, request.params.machine_id, request.body);
  });

  api.get('/v1/apps/:app_name/machines/:machine_id/ps', { schema: { operationId: 'Machines_list_processes', tags, params: MachineParams } }, async (request) => {
    return psMachine(deps, request.params.app_name, request.params.machine_id);
  });

  api.get('/v1/apps/:app_name/machines/:machine_id/memory', { schema: { operationId: 'Machines_get_memory', tags, params: MachineParams } }, async (request) => {
    return machineMemory(deps, request.params.app_name, request.params.machine_id);
  });

  api.put('/v1/apps/:app_name/machines/:machine_id/memory', { schema: { operationId: 'Machines_set_memory_limit', tags, params: MachineParams, body: MemoryLimitBody } }, async (request) => {
    return setMachineMemoryLimit(deps, request.params.app_name, request.params.machine_id, request.body.limit_mb);
  });

  api.post('/v1/apps/:app_name/machines/:machine_id/memory/reclaim', { schema: { operationId: 'Machines_reclaim_memory', tags, params: MachineParams, body: ReclaimMemoryBody } }, async (request) => {
    return reclaimMachineMemory(deps, request.params.app_name, request.params.machine_id, request.body.amount_mb);
  });

  api.get('/v1/apps/:app_name/machines/:machine_id/wait', { schema: { operationId: 'Machines_wait', tags, params: MachineParams, querystring: WaitQuery } }, async (request) => {
    // The wait ends early if the client goes away, so abandoned waiters cost nothing.
    const gone = new AbortController();
    request.raw.once('close', () => gone.abort('the request ended'));
    return waitMachine(deps, request.params.app_name, request.params.machine_id, request.query, gone.signal);
  });
}
