/**
 * Keeps this host's part of the private network across hosts: it publishes the
 * host's end (its endpoint and public key), follows every host's machines (the
 * table the private DNS answers from, kept by the cluster's changes) and the
 * hosts' published ends, plans the peers (peers.ts) and, when the plan changes,
 * hands the peers to the underlay and their /64s to the network keeper, which
 * routes them through the mesh link and lets the firewall take packets from them.
 * A change of a machine plans at once; the hosts' ends are read every few seconds,
 * and at once when a machine is on a host not known yet. Every 30 s the plan is
 * applied whatever changed, repairing what drifted. Until the hosts' ends are first
 * read, and while the database is out of reach, what was applied stays (a restart
 * does not cut traffic between hosts).
 */
import type { DirectoryMachine, MeshDirectory, MeshHost } from '../../domain/ports.ts';
import type { MeshRoute } from '../converge.ts';
import { planPeers } from './peers.ts';
import type { Underlay, UnderlayLog } from './underlay.ts';

/** Every host's machines, kept current by their owner. */
export interface MeshMachines {
  all(): readonly DirectoryMachine[];
  onChange(listener: () => void): () => void;
}

export interface MeshKeeperOptions {
  hostId: string;
  directory: MeshDirectory;
  machines: MeshMachines;
  underlay: Underlay;
  /** The machines' network: routes and firewall for the peers' /64s. */
  network: { setMeshRoutes(routes: MeshRoute[]): Promise<unknown> };
  log: UnderlayLog;
  /** How often the plan is looked at without a change (default 1 s). */
  intervalMs?: number;
  /** How often the hosts' ends are read (default 5 s). */
  hostsEveryMs?: number;
  /** How often the plan is applied even if unchanged (default 30 s). */
  repairMs?: number;
}

export class MeshKeeper {
  private readonly options: MeshKeeperOptions;
  /** Every host's end, once read (until then nothing is applied: what the link has stays). */
  private hosts: MeshHost[] | undefined;
  private hostsReadAt = 0;
  /** Hosts that had machines but no published end at the last read: they do not make the hosts be read again. */
  private unpublished = new Set<string>();
  private applyFailing = false;
  private applied: string | undefined;
  private appliedAt = 0;
  private readonly told = new Set<string>();
  private readFailing = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private unlisten: (() => void) | undefined;

  private constructor(options: MeshKeeperOptions) {
    this.options = options;
  }

  /** Makes the link, publishes this host's end and applies the first plan. */
  static async start(options: MeshKeeperOptions): Promise<MeshKeeper> {
    const keeper = new MeshKeeper(options);
    await options.underlay.ensure();
    keeper.appliedAt = Date.now();
    await options.directory.publish(options.hostId, options.underlay.end());
    await keeper.tick();
    keeper.unlisten = options.machines.onChange(() => keeper.soon());
    keeper.schedule();
    return keeper;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unlisten?.();
    clearTimeout(this.timer);
    while (this.running) await this.running;
  }

  /** Plans now, or right after the plan under way. */
  private soon(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.tick().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.soon();
      } else {
        this.schedule();
      }
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.soon(), this.options.intervalMs ?? 1_000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { underlay, network, log, hostId, machines } = this.options;
    const all = machines.all();
    const known = new Set(this.hosts?.map((host) => host.hostId));
    const stale = Date.now() - this.hostsReadAt >= (this.options.hostsEveryMs ?? 5_000);
    const newHost = all.some((machine) => !known.has(machine.hostId) && !this.unpublished.has(machine.hostId));
    if (!this.hosts || stale || newHost) await this.readHosts(all);
    if (!this.hosts) return;
    const plan = planPeers({ hostId, kind: underlay.kind, publicKey: underlay.end().publicKey }, this.hosts, all);
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
      await network.setMeshRoutes(plan.peers.flatMap((peer) => [
        ...peer.prefixes.map((prefix) => ({ prefix, ...underlay.gateway(peer) })),
        { prefix: peer.host, host: true as const, ...underlay.gateway(peer) },
      ]));
    } catch (error) {
      if (!this.applyFailing) log.warn({ err: error }, 'network: could not apply the peers; trying again every second');
      this.applyFailing = true;
      this.applied = undefined;
      return;
    }
    if (this.applyFailing) log.info({}, 'network: the peers are applied again');
    this.applyFailing = false;
    if (shape !== this.applied) {
      log.info({ peers: plan.peers.map((peer) => ({ host: peer.hostId, prefixes: peer.prefixes })) }, `network: ${plan.peers.length} peer host(s)`);
    }
    this.applied = shape;
    this.appliedAt = Date.now();
  }

  /** At most once a second, however many machines are on hosts not known. */
  private async readHosts(machines: readonly DirectoryMachine[]): Promise<void> {
    if (Date.now() - this.hostsReadAt < 1_000 && this.hostsReadAt > 0 && !this.readFailing) return;
    const { directory, log } = this.options;
    this.hostsReadAt = Date.now();
    try {
      const hosts = await directory.hosts();
      this.hosts = hosts;
      this.unpublished = new Set(machines.map((machine) => machine.hostId).filter((id) => !hosts.some((host) => host.hostId === id)));
      if (this.readFailing) log.info({}, 'network: reading the cluster\'s hosts again');
      this.readFailing = false;
    } catch (error) {
      if (!this.readFailing) log.warn({ err: error }, 'network: cannot read the cluster\'s hosts; peers stay as they are');
      this.readFailing = true;
    }
  }
}
