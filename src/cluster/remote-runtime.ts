/**
 * The host runtime of an API replica: machines run on host agents. Everything
 * someone waits on (exec, ps, logs, …: guest-ops-wire.ts) is a request to the
 * machine's host agent's API, over mutual TLS. (Effects reach hosts through the
 * outbox, queued with the commit that decided them.)
 */
import { HangarError, hostUnreachable, machineNotFound } from '../domain/errors.ts';
import type { HostRecord } from '../domain/host.ts';
import { hostIsFresh } from '../domain/host.ts';
import type { ImageRef } from '../domain/image-ref.ts';
import type { GuestOps } from '../domain/guest-ops.ts';
import type { HostRuntime, MachineSpec, PullProgress } from '../domain/runtime.ts';
import type { Store } from '../store/store.ts';
import type { AgentClient } from './agent-client.ts';
import { remoteGuestOps } from './guest-ops-wire.ts';

export interface RemoteRuntimeOptions {
  store: Store;
  agents: AgentClient;
  /** A host silent for longer takes no pulls. */
  freshMs(): number;
}

export class RemoteRuntime implements HostRuntime {
  private readonly options: RemoteRuntimeOptions;
  private readonly agents: AgentClient;
  readonly guest: GuestOps;

  constructor(options: RemoteRuntimeOptions) {
    this.options = options;
    this.agents = options.agents;
    this.guest = remoteGuestOps(options.agents, (machineId) => this.hostOf(machineId));
  }

  /** The parent's host makes the children's snapshots; it reads their records itself. */
  async fork(parent: MachineSpec, children: MachineSpec[]): Promise<void> {
    const host = await this.hostOf(parent.machineId);
    await this.agents.call(host, 'POST', `/agent/v1/machines/${parent.machineId}/fork`, { children: children.map((child) => child.machineId) });
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

  private async hostOf(machineId: string): Promise<HostRecord> {
    const machine = await this.options.store.getMachineById(machineId);
    if (!machine) throw machineNotFound(machineId);
    const host = await this.agents.host(machine.hostId, `machine ${machineId}`);
    if (!hostIsFresh(host, this.options.freshMs())) throw hostUnreachable(`machine ${machineId}`, machine.hostId);
    return host;
  }
}
