/**
 * A cluster host's part of the private network, put together: WireGuard (or a
 * plain VXLAN on a trusted network) over the host's network, the mesh keeper that
 * follows every host's machines, and the firewall's drop counts for `/metrics`.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { MeshDirectory, UnderlayKind } from '../../domain/ports.ts';
import type { NetworkKeeper } from '../keeper.ts';
import { exec } from '../host-network.ts';
import { meshLinkName } from '../layout.ts';
import { MeshKeeper, type MeshMachines } from './mesh-keeper.ts';
import { PlainUnderlay } from './plain.ts';
import type { Underlay } from './underlay.ts';
import { WireguardUnderlay } from './wireguard.ts';

export const DEFAULT_UNDERLAY_PORT = 51820;

export interface HostMesh {
  /** Publishes this host's end and keeps its peers, following every host's `machines`, until the answer is called. */
  start(machines: MeshMachines): Promise<() => Promise<void>>;
  /** Packets the firewall dropped to or from other hosts, by reason. */
  drops(): Promise<Record<string, number>>;
}

export interface HostMeshOptions {
  kind: UnderlayKind;
  network: NetworkKeeper;
  directory: MeshDirectory;
  dataDir: string;
  link: string;
  endpoint: { host: string; port: number };
  hostId: string;
  logger: Logger;
}

export function hostMesh(options: HostMeshOptions): HostMesh {
  const log = options.logger.child({ component: 'network' });
  const ns = options.network.netns;
  const underlay: Underlay = options.kind === 'plain'
    ? new PlainUnderlay({ ns, link: options.link, endpoint: options.endpoint, hostNumber: options.network.layout.hostNumber, log })
    : new WireguardUnderlay({ dataDir: options.dataDir, ns, link: options.link, endpoint: options.endpoint, log });
  return {
    async start(machines) {
      const keeper = await MeshKeeper.start({ hostId: options.hostId, directory: options.directory, machines, underlay, network: options.network, log });
      return () => keeper.stop();
    },
    drops: () => options.network.meshDrops(),
  };
}

/** `hangar_6pn_dropped_total{reason}`, read from the firewall's counters at each scrape. */
export function registerMeshMetrics(registry: Registry, mesh: Pick<HostMesh, 'drops'>): void {
  new Counter({
    name: 'hangar_6pn_dropped_total',
    help: 'Packets from or to other hosts that the private network\'s firewall dropped: source (not from the peer\'s machines) or app (across apps, or to the host)',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const drops = await mesh.drops().catch(() => undefined);
      if (!drops) return;
      this.reset();
      for (const [reason, packets] of Object.entries(drops)) this.inc({ reason }, packets);
    },
  });
}

/** Removes the namespace's link to other hosts, if it has one (a wireguard-go behind it ends with it). */
export async function removeMeshLink(ns: string): Promise<void> {
  await exec(['ip', '-n', ns, 'link', 'del', meshLinkName(ns)]).catch(() => undefined);
}
