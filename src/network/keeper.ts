/**
 * Keeps one hangar's network as it should be: converges it at start (whatever is
 * there), sets up and removes machine links as machines come and go, and checks
 * every so often for drift (someone deleted a route, another namespace took an
 * address), repairing it and saying what it fixed. All of it runs one operation
 * at a time, so a check never meets a half-made link.
 */
import { type MachineLink, type MeshRoute, type Repair, repairs } from './converge.ts';
import type { NetworkPort } from './host-network.ts';
import { appPrefix, GUEST_GATEWAY6, type MachineAddresses, machineIpv4, type NetworkLayout, transit } from './layout.ts';
import type { Observed } from './observed.ts';
import { machineLinkSetup, machineLinkTeardown, MESH_DROPS, tapName, tapNameHolder } from './plan.ts';

export type { MachineLink };

/** A guest's addresses and gateways, as hangar-init sets them up. */
export interface GuestAddresses {
  ipv4: string;
  gateway4: string;
  gateway6: string;
}

/** What the qemu driver needs of the machines' network. */
export interface MachineNetwork {
  readonly netns: string;
  /** The guest's addresses: IPv4 the one recorded with the machine, else (machines recorded before) the one its number gives. */
  guestAddresses(machine: MachineAddresses): GuestAddresses;
  /** Makes the machine's TAP and routes (again, if they were there). */
  attach(link: MachineLink): Promise<void>;
  /** Whether this link, addresses and all, is set up (a machine moved here has none yet). */
  holds(link: MachineLink): boolean;
  /** Removes them. */
  detach(machineId: string): Promise<void>;
  /** Every machine whose link must exist, once known after a start: the rest are removed, and checks begin. */
  adopt(links: MachineLink[]): Promise<void>;
  close(): void;
}

export interface KeeperLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface KeeperOptions {
  layout: NetworkLayout;
  port: NetworkPort;
  outboundNat: boolean;
  log: KeeperLog;
  /** How often to look for drift once links are known (default 30 s; 0: never). */
  checkIntervalMs?: number;
  /** A host of a cluster: the name of its link to the other hosts, which its firewall guards. */
  meshLink?: string;
}

export class NetworkKeeper implements MachineNetwork {
  readonly layout: NetworkLayout;
  private readonly options: KeeperOptions;
  private outboundNat: boolean;
  /** Machine id → every link hangar made or adopted. */
  private readonly links = new Map<string, MachineLink>();
  /** Whether `links` holds every machine that must have one (after `adopt`). */
  private known = false;
  private shapes: { firewall?: string; nat?: string } = {};
  /** The peers' /64s, routed through the mesh link; unknown until the mesh keeper has planned. */
  private meshRoutes: MeshRoute[] | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  /** Converges the namespace (not yet the machine links, which are unknown until `adopt`). */
  static async open(options: KeeperOptions): Promise<NetworkKeeper> {
    const keeper = new NetworkKeeper(options);
    await keeper.converge('start');
    return keeper;
  }

  private constructor(options: KeeperOptions) {
    this.options = options;
    this.layout = options.layout;
    this.outboundNat = options.outboundNat;
  }

  get netns(): string {
    return this.layout.ns;
  }

  guestAddresses(machine: MachineAddresses): GuestAddresses {
    return { ipv4: machineIpv4(machine, this.layout.ipv4Range), gateway4: transit(this.layout).gateway4, gateway6: GUEST_GATEWAY6 };
  }

  holds(link: MachineLink): boolean {
    const held = this.links.get(link.machineId);
    return held !== undefined && held.privateIp === link.privateIp && held.privateIpv4 === link.privateIpv4;
  }

  attach(link: MachineLink): Promise<void> {
    return this.serially(async () => {
      const holder = tapNameHolder(link.machineId, this.links.keys());
      if (holder !== undefined) {
        throw new Error(`machine ${link.machineId} cannot have a network link: its TAP name ${tapName(link.machineId)} is already machine ${holder}'s `
          + '(a TAP name keeps 12 of the 14 characters of a machine id); destroy this machine and create it again to get another id');
      }
      this.links.set(link.machineId, link);
      await this.options.port.apply([
        { argv: ['ip', '-n', this.layout.ns, 'link', 'del', tapName(link.machineId)], tolerant: true },
        ...machineLinkSetup(this.layout, link),
      ]);
    });
  }

  detach(machineId: string): Promise<void> {
    return this.serially(async () => {
      const privateIp = this.links.get(machineId)?.privateIp;
      this.links.delete(machineId);
      if (privateIp === undefined) {
        // A link refused for its TAP name leaves that TAP to the machine that has it.
        if (tapNameHolder(machineId, this.links.keys()) !== undefined) return;
        await this.options.port.apply([{ argv: ['ip', '-n', this.layout.ns, 'link', 'del', tapName(machineId)], tolerant: true }]);
        return;
      }
      const lastOfApp = ![...this.links.values()].some((link) => appPrefix(link.privateIp) === appPrefix(privateIp));
      await this.options.port.apply(machineLinkTeardown(this.layout, machineId, privateIp, lastOfApp));
    });
  }

  async adopt(links: MachineLink[]): Promise<void> {
    await this.serially(async () => {
      for (const link of links) {
        // Two machines sharing a TAP name can only predate the check in `attach`: the first keeps the TAP.
        const holder = tapNameHolder(link.machineId, this.links.keys());
        if (holder !== undefined) {
          this.options.log.error({ netns: this.layout.ns, machineId: link.machineId, holder },
            `machines ${holder} and ${link.machineId} would share the TAP ${tapName(link.machineId)}: ${link.machineId} is left without a network link`);
          continue;
        }
        this.links.set(link.machineId, link);
      }
      this.known = true;
    });
    await this.converge('adopt');
    const every = this.options.checkIntervalMs ?? 30_000;
    if (every > 0 && !this.timer) {
      this.timer = setInterval(() => void this.converge('check').catch((error: unknown) => this.options.log.error({ err: error }, 'network check failed')), every);
      this.timer.unref();
    }
  }

  /** Routes these /64s of other hosts' machines through the mesh link, and takes packets from them only; the rest are removed. */
  async setMeshRoutes(routes: MeshRoute[]): Promise<Repair[]> {
    this.meshRoutes = [...routes].sort((a, b) => a.prefix.localeCompare(b.prefix));
    return this.converge('mesh');
  }

  /** What the firewall dropped to or from other hosts, by reason (see MESH_DROPS). */
  async meshDrops(): Promise<Record<keyof typeof MESH_DROPS, number>> {
    const counted = await this.options.port.counters(this.layout);
    return { source: counted.get(MESH_DROPS.source) ?? 0, app: counted.get(MESH_DROPS.app) ?? 0 };
  }

  /** Turns outbound NAT on or off; either way the result is the same whatever was there before. */
  async setOutboundNat(enabled: boolean): Promise<void> {
    this.outboundNat = enabled;
    await this.converge('start');
  }

  /**
   * Compares the host with the plan and repairs the difference. At start every
   * repair must work; once machines are known (`adopt`) and at each check, one
   * machine's link that cannot be repaired is logged and the rest go on.
   */
  converge(reason: 'start' | 'adopt' | 'check' | 'mesh'): Promise<Repair[]> {
    return this.serially(async () => {
      const { port, log } = this.options;
      const observed = await port.observe(this.layout, { nat: this.outboundNat });
      const needed = repairs(this.desired(), observed);
      for (const repair of needed) {
        try {
          await port.apply(repair.steps);
        } catch (error) {
          if (reason === 'start') throw error;
          log.error({ netns: this.layout.ns, err: error }, `network: could not repair (${repair.what})`);
          continue;
        }
        if (reason !== 'check') log.info({ netns: this.layout.ns }, `network: ${repair.what}`);
        else log.warn({ netns: this.layout.ns }, `network drift repaired: ${repair.what}`);
      }
      if (needed.some((repair) => repair.what.endsWith('loaded'))) this.remember(await port.observe(this.layout, { nat: this.outboundNat }));
      return needed;
    });
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private desired() {
    const links = this.known ? [...this.links.values()] : undefined;
    const { meshLink } = this.options;
    return {
      layout: this.layout, outboundNat: this.outboundNat, links, firewallShape: this.shapes.firewall, natShape: this.shapes.nat,
      ...(meshLink ? { mesh: { link: meshLink, ...(this.meshRoutes ? { routes: this.meshRoutes } : {}) } } : {}),
    };
  }

  /** The tables as read right after hangar loaded them: what later checks compare with. */
  private remember(observed: Observed): void {
    this.shapes = { firewall: observed.ns?.firewall?.shape, nat: observed.host.nat };
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
