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
import type {
  ExecRequest, ExecResult, HostRuntime, LogOptions, MachineSpec, MemoryInfo, ProcessInfo, PullProgress,
} from '../domain/runtime.ts';
import type { SignalName } from '../domain/signals.ts';
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

  constructor(options: RemoteRuntimeOptions) {
    this.options = options;
    this.agents = options.agents;
  }

  async exec(machineId: string, request: ExecRequest): Promise<ExecResult> {
    return this.call(machineId, 'POST', '/exec', request);
  }

  /** The parent's host makes the children's snapshots; it reads their records itself. */
  async fork(parent: MachineSpec, children: MachineSpec[]): Promise<void> {
    await this.call(parent.machineId, 'POST', '/fork', { children: children.map((child) => child.machineId) });
  }

  async ps(machineId: string): Promise<ProcessInfo[]> {
    return this.call(machineId, 'GET', '/ps');
  }

  async signal(machineId: string, signal: SignalName): Promise<void> {
    await this.call(machineId, 'POST', '/signal', { signal });
  }

  async memory(machineId: string): Promise<MemoryInfo> {
    return this.call(machineId, 'GET', '/memory');
  }

  async setMemoryLimit(machineId: string, limitMb: number): Promise<MemoryInfo> {
    return this.call(machineId, 'PUT', '/memory', { limitMb });
  }

  async reclaimMemory(machineId: string, amountMb: number): Promise<number> {
    return (await this.call<{ reclaimedMb: number }>(machineId, 'POST', '/memory/reclaim', { amountMb })).reclaimedMb;
  }

  async *logs(machineId: string, options: LogOptions): AsyncIterable<string> {
    const host = await this.hostOf(machineId);
    const query = `?tail=${options.tail}&follow=${options.follow}`;
    const response = await this.agents.fetch(host, 'GET', `/agent/v1/machines/${machineId}/logs${query}`, undefined, options.signal);
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
