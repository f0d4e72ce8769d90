/**
 * The host runtime of an API replica: machines run on host agents. Everything
 * someone waits on (exec, ps, logs, …) is a request to the machine's host agent's
 * API, authenticated with the cluster secret. (Effects reach hosts through the
 * outbox, queued with the commit that decided them.)
 */
import { HangarError, hostUnreachable, machineNotFound } from '../domain/errors.ts';
import type { HostRecord } from '../domain/host.ts';
import { hostIsFresh } from '../domain/host.ts';
import type { ImageRef } from '../domain/image-ref.ts';
import type { GuestOps, LogRequest } from '../domain/guest-ops.ts';
import type { HostRuntime, MachineSpec, PullProgress } from '../domain/runtime.ts';
import type { Store } from '../store/store.ts';
import type { AgentClient } from './agent-client.ts';

export interface RemoteRuntimeOptions {
  store: Store;
  agents: AgentClient;
  /** A host silent for longer takes no pulls. */
  freshMs(): number;
}

export class RemoteRuntime implements HostRuntime {
  private readonly options: RemoteRuntimeOptions;
  private readonly agents: AgentClient;
  readonly guest: GuestOps = {
    exec: (machineId, request) => this.call(machineId, 'POST', '/exec', request),
    ps: (machineId) => this.call(machineId, 'GET', '/ps'),
    signal: async (machineId, { signal }) => void await this.call(machineId, 'POST', '/signal', { signal }),
    memory: (machineId) => this.call(machineId, 'GET', '/memory'),
    setMemoryLimit: (machineId, { limitMb }) => this.call(machineId, 'PUT', '/memory', { limitMb }),
    reclaimMemory: (machineId, { amountMb }) => this.call(machineId, 'POST', '/memory/reclaim', { amountMb }),
    logs: (machineId, request, signal) => this.logs(machineId, request, signal),
  };

  constructor(options: RemoteRuntimeOptions) {
    this.options = options;
    this.agents = options.agents;
  }

  /** The parent's host makes the children's snapshots; it reads their records itself. */
  async fork(parent: MachineSpec, children: MachineSpec[]): Promise<void> {
    await this.call(parent.machineId, 'POST', '/fork', { children: children.map((child) => child.machineId) });
  }

  private async *logs(machineId: string, request: LogRequest, signal: AbortSignal): AsyncIterable<string> {
    const host = await this.hostOf(machineId);
    const query = `?tail=${request.tail}&follow=${request.follow}`;
    const response = await this.agents.fetch(host, 'GET', `/agent/v1/machines/${machineId}/logs${query}`, undefined, signal);
    let rest = '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body ?? []) {
      rest += decoder.decode(chunk as Uint8Array, { stream: true });
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      yield* lines;
    }
    if (rest) yield rest;
  }

  /** Pulls on a fresh host of the cluster (the one that will run the image pulls again if it needs it). */
  async pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<ImageRef> {
    onProgress({ status: 'resolving' });
    const freshMs = this.options.freshMs();
    const hosts = (await this.options.store.listHostUsage()).map((usage) => usage.host).filter((host) => host.address && !host.cordoned && hostIsFresh(host, freshMs));
    const host = hosts[0];
    if (!host) throw new HangarError('insufficient_capacity', 'no host is up to pull the image');
    return this.agents.call<ImageRef>(host, 'POST', '/agent/v1/images', { reference });
  }

  private async call<T>(machineId: string, method: string, suffix: string, body?: unknown): Promise<T> {
    return this.agents.call<T>(await this.hostOf(machineId), method, `/agent/v1/machines/${machineId}${suffix}`, body);
  }

  private async hostOf(machineId: string): Promise<HostRecord> {
    const machine = await this.options.store.getMachineById(machineId);
    if (!machine) throw machineNotFound(machineId);
    const host = await this.agents.host(machine.hostId, `machine ${machineId}`);
    if (!hostIsFresh(host, this.options.freshMs())) throw hostUnreachable(`machine ${machineId}`, machine.hostId);
    return host;
  }
}
