/**
 * A machines' network for tests that drive QEMU or the driver without `hangar
 * serve`: a namespace of the test's own with a host number and IPv4 range chosen
 * as hangar chooses them, clear of every other hangar's on this host.
 */
import { runCommands, systemNetwork } from '../../src/network/host-network.ts';
import { chooseLayout } from '../../src/network/identity.ts';
import { NetworkKeeper } from '../../src/network/keeper.ts';
import { hostVethName, layoutOf, meshLinkName, type NetworkLayout } from '../../src/network/layout.ts';
import { namespaceTeardown } from '../../src/network/plan.ts';
import { readNetworkIdentity } from '../../src/system/data-dir.ts';

const quiet = { info() {}, warn() {}, error() {} };

/** Opens (converges) a test namespace; no drift checks, no outbound NAT unless turned on. */
export async function openTestNetwork(ns: string): Promise<NetworkKeeper> {
  const layout = chooseLayout({ ns }, await systemNetwork.observeHost());
  return NetworkKeeper.open({ layout, port: systemNetwork, outboundNat: false, log: quiet, checkIntervalMs: 0 });
}

/**
 * Removes a namespace and what it has on the host (its veth takes its routes and
 * addresses along), and a cluster host's wireguard-go for it, which does not always
 * end with its link.
 */
export async function removeNamespace(ns: string): Promise<void> {
  await runCommands([
    ...namespaceTeardown({ ns, hostVeth: hostVethName(ns) }),
    ['pkill', '-f', `^([^ ]*/)?wireguard-go ${meshLinkName(ns)}$`],
    ['rm', '-f', `/var/run/wireguard/${meshLinkName(ns)}.sock`],
  ], { tolerant: true });
}

/** The layout a `hangar serve` on `dataDir` gave its namespace (benchmarks put their own QEMU on it). */
export function serverNetworkLayout(dataDir: string, ns: string): NetworkLayout {
  const stored = readNetworkIdentity(dataDir);
  if (!stored) throw new Error(`${dataDir} has no network identity yet`);
  return layoutOf(ns, stored.hostNumber, stored.ipv4Range);
}
