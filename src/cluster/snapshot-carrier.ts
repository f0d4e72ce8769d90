/**
 * How a replica carries a suspended machine's snapshot between two hosts: it asks
 * the source for the files (their sizes and sha256), opens an inbox on the target
 * with that list, and streams each file from the one to the other, through
 * itself (hosts never call each other: agent-api.ts). A transfer that breaks is
 * picked up at what the target has, a few times; the target checks every file
 * before it takes the snapshot in.
 */
import { failpoint } from '../system/failpoints.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { SnapshotCarrier } from '../domain/ports.ts';
import { type AgentClient, parse } from './agent-client.ts';
import type { ParcelFile } from './parcel-wire.ts';

const ATTEMPTS = 4;

type Received = Record<string, number>;

export class AgentSnapshotCarrier implements SnapshotCarrier {
  private readonly agents: AgentClient;

  constructor(agents: AgentClient) {
    this.agents = agents;
  }

  async carry(machine: MachineRecord, toHostId: string): Promise<{ bytes: number }> {
    const machineId = machine.id;
    const what = `machine ${machineId}`;
    const [from, to] = [await this.agents.host(machine.hostId, what), await this.agents.host(toHostId, `the move's target for ${what}`)];
    const { files } = await this.agents.call<{ files: ParcelFile[] }>(from, 'POST', `/agent/v1/machines/${machineId}/parcel`);
    let { received } = await this.agents.call<{ received: Received }>(to, 'POST', `/agent/v1/incoming/${machineId}`, { files, machine: JSON.stringify(machine) });
    failpoint('migrate.after-reserve');
    for (let attempt = 1; ; attempt++) {
      try {
        for (const file of files) {
          const have = received[file.name] ?? 0;
          if (have >= file.bytes) continue;
          const source = await this.agents.fetch(from, 'GET', `/agent/v1/machines/${machineId}/parcel/${file.name}?offset=${have}`);
          if (!source.ok || !source.body) await parse(source);
          const sent = await this.agents.fetch(to, 'PUT', `/agent/v1/incoming/${machineId}/${file.name}?offset=${have}`, source.body);
          received[file.name] = (await parse<{ bytes: number }>(sent)).bytes;
        }
        await this.agents.call(to, 'POST', `/agent/v1/incoming/${machineId}/unpack`);
        return { bytes: files.reduce((sum, file) => sum + file.bytes, 0) };
      } catch (error) {
        if (attempt >= ATTEMPTS) throw error;
        ({ received } = await this.agents.call<{ received: Received }>(to, 'GET', `/agent/v1/incoming/${machineId}`));
      }
    }
  }

  async drop(machineId: string, toHostId: string): Promise<void> {
    const to = await this.agents.host(toHostId, `the move's target for machine ${machineId}`);
    await this.agents.call(to, 'DELETE', `/agent/v1/incoming/${machineId}`);
  }
}
