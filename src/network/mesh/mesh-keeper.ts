/**
 * Keeps this host's part of the private network across hosts: it publishes the
 * host's end (its endpoint and public key), then every second reads the directory
 * (every host's end, and which apps have machines where), plans the peers
 * (peers.ts) and, when the plan changes, hands the peers to the underlay and their
 * /64s to the network keeper, which routes them through the mesh link and lets the
 * firewall take packets from them. Every 30 s it applies the plan whatever changed,
 * repairing what drifted. While the database is out of reach the last plan stays.
 */
import type { MeshDirectory } from '../../domain/ports.ts';
import { type Peer, planPeers } from './peers.ts';
import type { Underlay } from './underlay.ts';

export interface MeshLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

export interface MeshKeeperOptions {
  hostId: string;
  directory: MeshDirectory;
  underlay: Underlay;
  /** The machines' network: routes and firewall for the peers' /64s. */
  network: { setMeshPrefixes(prefixes: string[]): Promise<unknown> };
  log: MeshLog;
  /** How often the directory is read (default 1 s). */
  intervalMs?: number;
  /** How often the plan is applied even if unchanged (default 30 s). */
  repairMs?: number;
}

export class MeshKeeper {
  private readonly options: MeshKeeperOptions;
  private applied: string | undefined;
  private appliedAt = 0;
  private readonly told = new Set<string>();
  private failing = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** The peers last applied (for tests and the log). */
  peers: Peer[] = [];

  private constructor(options: MeshKeeperOptions) {
    this.options = options;
  }

  /** Publishes this host's end, makes the link and applies the first plan. */
  static async start(options: MeshKeeperOptions): Promise<MeshKeeper> {
    const keeper = new MeshKeeper(options);
    await options.underlay.ensure();
    keeper.appliedAt = Date.now();
    await options.directory.publish(options.hostId, options.underlay.end());
    await keeper.tick();
    keeper.schedule();
    return keeper;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.options.intervalMs ?? 1_000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { directory, underlay, network, log, hostId } = this.options;
    let read;
    try {
      read = await directory.read();
      if (this.failing) log.info({}, 'network: reading the cluster\'s hosts again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) log.warn({ err: error }, 'network: cannot read the cluster\'s hosts; peers stay as they are');
      this.failing = true;
      return;
    }
    const plan = planPeers({ hostId, kind: underlay.kind }, read.hosts, read.spans);
    for (const { hostId: peer, reason } of plan.skipped) {
      const key = `${peer}\0${reason}`;
      if (!this.told.has(key)) log.warn({ peer }, `network: host ${peer} is left out of the private network: ${reason}`);
      this.told.add(key);
    }
    const shape = JSON.stringify(plan.peers);
    const repairDue = Date.now() - this.appliedAt >= (this.options.repairMs ?? 30_000);
    if (shape === this.applied && !repairDue) return;
    try {
      if (repairDue) await underlay.ensure();
      await underlay.configure(plan.peers);
      await network.setMeshPrefixes(plan.peers.flatMap((peer) => peer.prefixes));
    } catch (error) {
      log.warn({ err: error }, 'network: could not apply the peers; trying again');
      this.applied = undefined;
      return;
    }
    if (shape !== this.applied) {
      log.info({ peers: plan.peers.map((peer) => ({ host: peer.hostId, prefixes: peer.prefixes })) }, `network: ${plan.peers.length} peer host(s)`);
    }
    this.peers = plan.peers;
    this.applied = shape;
    this.appliedAt = Date.now();
  }
}
