/**
 * Hosts really apart, on one machine: each simulated host gets a network namespace
 * of its own (its "root" namespace, where its hangar runs and its machines'
 * namespace hangs off), joined to the others only by a simulated underlay: a
 * bridge in this namespace, where the test (and the API replicas) reach each host
 * at its underlay address. Traffic between hosts' machines can only cross that
 * bridge, so it really goes through whatever the hosts put on it (WireGuard).
 */
import { execFileSync } from 'node:child_process';
import { runCommands } from '../../src/network/host-network.ts';
import { removeNamespace } from './network.ts';

export interface ApartHost {
  /** The host's own namespace: run its hangar with `nsenter --net=/run/netns/<netns>`. */
  netns: string;
  /** Its address on the underlay. */
  address: string;
}

export interface HostsApart {
  hosts: ApartHost[];
  /** This namespace's address on the underlay. */
  gateway: string;
  bridge: string;
  /** The command prefix that runs a program in host `i`'s namespace. */
  enter(i: number): string[];
  remove(): Promise<void>;
}

/** `count` hosts on a fresh underlay: 10.<n>.0.0/24, n free on this machine, bridge at .254, hosts at .1, .2, … */
export async function createHostsApart(count: number, tag = Math.random().toString(16).slice(2, 6)): Promise<HostsApart> {
  const subnet = freeSubnet();
  const bridge = `hgu-${tag}`;
  const gateway = `${subnet}.254`;
  const hosts = Array.from({ length: count }, (_, i) => ({ netns: `hgh-${tag}-${i + 1}`, address: `${subnet}.${i + 1}` }));
  const rig: HostsApart = {
    hosts, gateway, bridge,
    enter: (i) => ['nsenter', `--net=/run/netns/${hosts[i]?.netns}`],
    async remove() {
      await runCommands([
        ...hosts.flatMap((host, i) => [['ip', 'link', 'del', `${bridge}-${i + 1}`], ['ip', 'netns', 'del', host.netns]]),
        ['ip', 'link', 'del', bridge],
      ], { tolerant: true });
    },
  };
  try {
    await runCommands([
      ['ip', 'link', 'add', bridge, 'type', 'bridge'],
      ['ip', 'addr', 'add', `${gateway}/24`, 'dev', bridge],
      ['ip', 'link', 'set', bridge, 'up'],
      ...hosts.flatMap((host, i) => [
        ['ip', 'netns', 'add', host.netns],
        ['ip', '-n', host.netns, 'link', 'set', 'lo', 'up'],
        ['ip', 'link', 'add', `${bridge}-${i + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns],
        ['ip', 'link', 'set', `${bridge}-${i + 1}`, 'master', bridge],
        ['ip', 'link', 'set', `${bridge}-${i + 1}`, 'up'],
        ['ip', '-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0'],
        ['ip', '-n', host.netns, 'link', 'set', 'eth0', 'up'],
      ]),
    ]);
  } catch (error) {
    await rig.remove();
    throw error;
  }
  return rig;
}

/**
 * Everything a cluster on the rig leaves, removed: its processes, its hosts' VMs
 * (they outlive hangar), the machines' namespaces (deleting one deletes its
 * WireGuard link, and wireguard-go ends with it) and the rig itself.
 */
export async function removeClusterApart(cluster: { hosts: Map<string, { dataDir: string }>; stop(): Promise<void> } | undefined,
  machinesNs: readonly string[], rig: HostsApart | undefined): Promise<void> {
  const dataDirs = [...(cluster?.hosts.values() ?? [])].map((host) => host.dataDir);
  await cluster?.stop();
  for (const data of dataDirs) {
    try { execFileSync('pkill', ['-KILL', '-f', `${data}/machines`], { stdio: 'ignore' }); } catch { /* none left */ }
  }
  for (const ns of machinesNs) await removeNamespace(ns);
  await rig?.remove();
}

/** A 10.<n>.0 this machine has no route into. */
function freeSubnet(): string {
  const routes = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }) || '[]') as Array<{ dst?: string }>;
  const taken = new Set(routes.map((route) => /^10\.(\d+)\./.exec(route.dst ?? '')?.[1]));
  for (let tries = 0; tries < 200; tries++) {
    const n = 100 + Math.floor(Math.random() * 150);
    if (!taken.has(String(n))) return `10.${n}.0`;
  }
  throw new Error('no free 10.n.0.0/24 for the underlay');
}
