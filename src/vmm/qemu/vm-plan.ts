/**
 * How one machine version is booted or resumed on this host: the VM's layout
 * (QEMU's argv) and the identity a snapshot taken of it carries, which a later
 * resume must match.
 */
import { createHash, randomUUID } from 'node:crypto';
import { suspendRefusal } from '../../domain/suspend.ts';
import { guestMac, tapName } from '../../network/plan.ts';
import type { MachineSpec } from '../driver.ts';
import { type Accelerator, kernelCommandLine, qemuArgv, type VmLayout } from './argv.ts';
import { type PreparedImage, volumeMounts, type VolumeMount } from './boot-config.ts';
import type { HostFacts } from './host-facts.ts';
import type { MachineFiles } from './machine-files.ts';
import type { SnapshotIdentity } from './snapshot.ts';

/** What a VM was launched with, kept beside it (`launched.json`) for its snapshot. */
export interface Launched {
  /** New for every boot and resume. */
  launchId: string;
  identity: SnapshotIdentity;
  sharedMemory: boolean;
  /** The guest's addresses on this host (hangar-init's `renumber` words): a resume elsewhere gives it that host's. */
  net?: string[];
}

export interface Plan {
  layout: VmLayout;
  mounts: VolumeMount[];
  launched: Launched;
}

export interface PlanSettings {
  accel: Accelerator;
  tscKhz?: number;
  kernelPath: string;
  /** The machines' network namespace; none leaves machines without a network. */
  netns?: string;
  suspendMaxMemoryMb?: number;
  volumePath?: (volumeId: string) => string;
  freePageReporting?: boolean;
  tcgBufferMb?: number;
}

export function planLaunch(
  spec: MachineSpec, files: MachineFiles, prepared: PreparedImage, settings: PlanSettings, facts: HostFacts, net?: string[],
): Plan {
  const mounts = volumeMounts(spec, settings.volumePath);
  const tap = settings.netns ? tapName(spec.machineId) : undefined;
  const sharedMemory = suspendRefusal(spec.config, settings.suspendMaxMemoryMb ?? Infinity) === null;
  const layout: VmLayout = {
    accel: settings.accel,
    cpus: spec.config.guest.cpus,
    memoryMb: spec.config.guest.memory_mb,
    kernelPath: settings.kernelPath,
    initrdPath: files.initrd,
    kernelArgs: kernelCommandLine({ tscKhz: settings.accel === 'tcg' ? settings.tscKhz : undefined, extra: spec.config.guest.kernel_args }),
    rootDisk: { path: files.overlay, format: 'qcow2' },
    disks: mounts.map((mount) => ({ path: mount.file, format: 'raw' as const })),
    tap: tap ? { ifname: tap, mac: guestMac(spec.machineId) } : undefined,
    qmpSocket: files.qmpSocket,
    agentSocket: files.agentSocket,
    consoleLog: files.consoleLog,
    pidFile: files.pidFile,
    logFile: files.qemuLog,
    memoryFile: sharedMemory ? files.liveMemory : undefined,
    freePageReporting: settings.freePageReporting,
    tcgBufferMb: settings.tcgBufferMb,
  };
  // The kernel command line only matters at boot (and carries the host's TSC reading), and
  // the log file is no device: both left out.
  const devices = portableArgv(qemuArgv({ ...layout, kernelArgs: '', logFile: undefined }), files, settings.kernelPath, mounts);
  const identity: SnapshotIdentity = {
    imageDigest: prepared.imageRef.digest,
    version: spec.version,
    argv: createHash('sha256').update(JSON.stringify(devices)).digest('hex'),
    qemu: facts.qemu,
    kernel: facts.kernel,
    cpu: facts.cpu,
  };
  return { layout, mounts, launched: { launchId: randomUUID(), identity, sharedMemory, ...(net ? { net } : {}) } };
}

/**
 * QEMU's argv with where this host keeps things named by what they are: the
 * machine's directory and RAM files, the guest kernel, each volume by its place. The same VM on
 * another host (another data directory) has the same portable argv. Pure.
 */
export function portableArgv(argv: readonly string[], files: Pick<MachineFiles, 'dir' | 'liveMemory' | 'forkMemory'>, kernelPath: string,
  mounts: readonly Pick<VolumeMount, 'file'>[]): string[] {
  const named: Array<[string, string]> = [
    ...mounts.map((mount, i): [string, string] => [mount.file, `<volume ${i}>`]),
    [files.liveMemory, '<memory>'],
    [files.forkMemory, '<fork memory>'],
    [files.dir, '<machine>'],
    [kernelPath, '<kernel>'],
  ];
  return argv.map((arg) => named.reduce((text, [path, name]) => text.split(path).join(name), arg));
}
