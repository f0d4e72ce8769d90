/**
 * The volumes of an API replica: files on the host agents' disks, each volume on
 * the host it was placed on, reached through that agent's API (agent-volumes.ts).
 */
import type { SnapshotRef, VolumeHost, VolumeHosts } from '../domain/ports.ts';
import type { DiskSpace } from '../domain/volume.ts';
import type { AgentClient } from './agent-client.ts';

export function agentVolumes(agents: AgentClient): VolumeHosts {
  return { on: (hostId) => new RemoteVolumes(agents, hostId) };
}

class RemoteVolumes implements VolumeHost {
  private readonly agents: AgentClient;
  private readonly hostId: string | undefined;

  constructor(agents: AgentClient, hostId: string | undefined) {
    this.agents = agents;
    this.hostId = hostId;
  }

  async create(id: string, sizeGb: number, label: string): Promise<void> {
    await this.call('POST', '/agent/v1/volumes', { id, sizeGb, label });
  }

  async fork(sourceId: string, id: string, sizeGb: number): Promise<void> {
    await this.call('POST', `/agent/v1/volumes/${sourceId}/fork`, { id, sizeGb });
  }

  async snapshot(volumeId: string, snapshotId: string): Promise<number> {
    return (await this.call<{ storedBytes: number }>('POST', `/agent/v1/volumes/${volumeId}/snapshots`, { snapshotId })).storedBytes;
  }

  async restore(snapshot: SnapshotRef, id: string, sizeGb: number): Promise<void> {
    await this.call('POST', `/agent/v1/volumes/${snapshot.volumeId}/snapshots/${snapshot.id}/restore`, { id, sizeGb });
  }

  async removeSnapshot(snapshot: SnapshotRef): Promise<void> {
    await this.call('DELETE', `/agent/v1/volumes/${snapshot.volumeId}/snapshots/${snapshot.id}`);
  }

  async allocatedBytes(id: string): Promise<number> {
    return (await this.call<{ bytes: number }>('GET', `/agent/v1/volumes/${id}/allocated`)).bytes;
  }

  async space(): Promise<DiskSpace> {
    return this.call<DiskSpace>('GET', '/agent/v1/space');
  }

  async extend(id: string, sizeGb: number): Promise<void> {
    await this.call('PUT', `/agent/v1/volumes/${id}/size`, { sizeGb });
  }

  async remove(id: string): Promise<void> {
    await this.call('DELETE', `/agent/v1/volumes/${id}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.agents.call<T>(await this.agents.host(this.hostId, 'the volume'), method, path, body);
  }
}
