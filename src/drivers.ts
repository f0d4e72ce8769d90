/**
 * What a host runs its machines on, chosen by name: the VMM driver (fake or QEMU)
 * and, for QEMU, the machines' network converged in its namespace.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { LocalVolumes } from './volumes/local-volumes.ts';
import { DEFAULT_SUSPEND_MAX_MEMORY_MB } from './domain/suspend.ts';
import { guestAssets } from './guest/initramfs.ts';
import { ImageStore } from './image/image-store.ts';
import { registryTagPins } from './image/tag-pins.ts';
import { systemNetwork } from './network/host-network.ts';
import { chooseLayout } from './network/identity.ts';
import { NetworkKeeper } from './network/keeper.ts';
import type { Ipv4Range } from './network/layout.ts';
import { readNetworkIdentity, writeNetworkIdentity } from './system/data-dir.ts';
import type { VmmDriver } from './vmm/driver.ts';
import type { TagPins } from './domain/ports.ts';
import { FakeDriver, FakeHost, fakeDigestOf } from './vmm/fake/fake-driver.ts';

/** Where `hangar serve --driver fake` keeps its pretend VMs, in the data directory (see FakeHost). */
export const FAKE_LEDGER = 'fake-vms.jsonl';
import { chooseAccelerator, tscKhzFromCpuinfo } from './vmm/qemu/argv.ts';
import { QemuDriver } from './vmm/qemu/qemu-driver.ts';

export type DriverName = 'fake' | 'qemu';

/** `realistic` makes the fake driver take time like a small VM would, so transient states show; `instant` takes none. */
export type FakeTiming = 'realistic' | 'instant';

export interface DriverOptions {
  dataDir: string;
  volumes: LocalVolumes;
  fakeTiming?: FakeTiming;
  /** The machines' network, converged (qemu driver; see openNetwork). */
  network?: NetworkKeeper;
  /** Largest guest that may be suspended; such guests get their RAM in a shared file (qemu driver). */
  suspendMaxMemoryMb?: number;
  /** How long a suspended machine's RAM stays in memory once written out. */
  suspendedMemoryMs?: number;
  logger?: Logger;
}

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * How an API replica pins tags for hosts of driver `name`: the fake driver's
 * made-up digests (no registry is asked), else the registry's answer.
 */
export function tagPins(name: DriverName): TagPins {
  if (name === 'fake') return async (ref) => fakeDigestOf(ref);
  return registryTagPins();
}

export async function createDriver(name: DriverName, options: DriverOptions): Promise<VmmDriver> {
  switch (name) {
    case 'fake':
      return new FakeDriver(options.fakeTiming === 'instant' ? {} : { prepareMs: 50, bootMs: 300, resumeMs: 100, stopMs: 100, suspendMs: 100 },
        new FakeHost(join(options.dataDir, FAKE_LEDGER)));
    case 'qemu': {
      if (!options.network) throw new Error('the qemu driver needs its network');
      const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
      const accel = chooseAccelerator(cpuinfo, existsSync('/dev/kvm'));
      return new QemuDriver({
        machinesDir: join(options.dataDir, 'machines'),
        images: new ImageStore(join(options.dataDir, 'images')),
        assets: guestAssets(PROJECT_ROOT),
        accel,
        tscKhz: tscKhzFromCpuinfo(cpuinfo),
        network: options.network,
        volumePath: (id) => options.volumes.path(id),
        suspendMaxMemoryMb: options.suspendMaxMemoryMb ?? DEFAULT_SUSPEND_MAX_MEMORY_MB,
        suspendedMemoryMs: options.suspendedMemoryMs,
        onError: (machineId, what, error) => options.logger?.warn({ machineId, err: error }, `qemu driver: ${what} failed`),
        onNotice: (machineId, what) => options.logger?.warn({ machineId }, `qemu driver: ${what}`),
      });
    }
  }
}

export interface NetworkOptions {
  dataDir: string;
  netns: string;
  /** Flags; the data directory's stored choice must agree with them. */
  hostNumber?: number;
  ipv4Range?: Ipv4Range;
  outboundNat: boolean;
  checkIntervalMs?: number;
  logger: Logger;
  /** A cluster's host: its link to the other hosts, which the firewall guards. */
  meshLink?: string;
}

/**
 * The machines' network for the qemu driver: the host number and IPv4 range this
 * data directory keeps (chosen at its first start, clear of every other hangar on
 * the host), and the namespace converged to them.
 */
export async function openNetwork(options: NetworkOptions): Promise<NetworkKeeper> {
  const stored = readNetworkIdentity(options.dataDir);
  const layout = chooseLayout({ ns: options.netns, hostNumber: options.hostNumber, ipv4Range: options.ipv4Range, stored }, await systemNetwork.observeHost());
  if (!stored) writeNetworkIdentity(options.dataDir, layout);
  const log = options.logger.child({ component: 'network' });
  return NetworkKeeper.open({ layout, port: systemNetwork, outboundNat: options.outboundNat, log, checkIntervalMs: options.checkIntervalMs, meshLink: options.meshLink });
}
