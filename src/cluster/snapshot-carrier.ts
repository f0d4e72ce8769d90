/**
 * How a replica carries a machine between two hosts (its suspend snapshot, its
 * volume and that volume's snapshots): it asks the source for the files (listed
 * block by block, parcel-wire.ts), opens an inbox on the target with that list
 * (agent-inbox.ts), and streams each file from the one to the other through itself
 * (hosts never call each other: agent-api.ts). The target checks every block as it
 * arrives; a transfer that breaks is picked up at what the target has, a few times,
 * and one that fails lets go of the inbox.
 */
import { randomUUID } from 'node:crypto';
import { failpoint } from '../system/failpoints.ts';
import type { MachineRecord } from '../domain/machine.ts';
import type { Carried, Load, SnapshotCarrier } from '../domain/ports.ts';
import type { AgentClient } from './agent-client.ts';
import type { ParcelFile } from './parcel-wire.ts';

const ATTEMPTS = 4;

type Received = Record<string, number>;

export class AgentSnapshotCarrier implements SnapshotCarrier {
  private readonly agents: AgentClient;

  constructor(agents: AgentClient) {
    this.agents = agents;
  }

  async carry(machine: MachineRecord, toHostId: string, load: Load): Promise<Carried> {
    const machineId = machine.id;
    const what = `machine ${machineId}`;
    const [from, to] = [await this.agents.host(machine.hostId, what), await this.agents.host(toHostId, `the move's target for ${what}`)];
    const move = randomUUID();
    const began = performance.now();
    const { files } = await this.agents.call<{ files: ParcelFile[] }>(from, 'POST', `/agent/v1/machines/${machineId}/parcel`, load);
    const packed = performance.now();
    let { received } = await this.agents.call<{ received: Received }>(to, 'POST', `/agent/v1/incoming/${machineId}`, { move, files, machine: JSON.stringify(machine) });
    failpoint('migrate.after-reserve');
    for (let attempt = 1; ; attempt++) {
      try {
        for (const file of files) {
          const have = received[file.name] ?? 0;
          if (have >= file.bytes) continue;
          const at = `${file.name}?offset=${have}&move=${move}`;
          received[file.name] = (await this.agents.relay<{ bytes: number }>(from, `/agent/v1/machines/${machineId}/parcel/${at}`, to, `/agent/v1/incoming/${machineId}/${at}`)).bytes;
        }
        const copied = performance.now();
        await this.agents.call(to, 'POST', `/agent/v1/incoming/${machineId}/unpack?move=${move}`);
        const ms = (start: number, end = performance.now()) => Math.round(end - start);
        return {
          move,
          bytes: files.reduce((sum, file) => sum + file.bytes, 0),
          dataBlocks: files.reduce((sum, file) => sum + file.blocks.filter((block) => block !== '').length, 0),
          ms: { pack: ms(began, packed), copy: ms(packed, copied), unpack: ms(copied) },
        };
      } catch (error) {
        if (attempt >= ATTEMPTS) {
          await this.drop(machineId, toHostId, move).catch(() => undefined);
          throw error;
        }
        ({ received } = await this.agents.call<{ received: Received }>(to, 'GET', `/agent/v1/incoming/${machineId}?move=${move}`));
      }
    }
  }

  async releaseVolumes(fromHostId: string, load: Load): Promise<void> {
    const from = await this.agents.host(fromHostId, 'the volumes moved');
    for (const volumeId of load.volumes) {
      await this.agents.call(from, 'POST', `/agent/v1/volumes/${volumeId}/moved-away`, { snapshots: load.volumeSnapshots });
    }
  }

  async settle(machineId: string, toHostId: string, move: string): Promise<void> {
    const to = await this.agents.host(toHostId, `the host machine ${machineId} moved to`);
    await this.agents.call(to, 'POST', `/agent/v1/incoming/${machineId}/settled?move=${move}`);
  }

  async drop(machineId: string, toHostId: string, move: string): Promise<void> {
    const to = await this.agents.host(toHostId, `the move's target for machine ${machineId}`);
    await this.agents.call(to, 'DELETE', `/agent/v1/incoming/${machineId}?move=${move}`);
  }
}
