/**
 * QEMU command lines as data: pure functions from a machine's layout to argv and
 * to the guest kernel's command line, pinned by golden tests. `spawn` lives elsewhere.
 */

export type Accelerator = 'kvm' | 'tcg';

export interface Disk {
  path: string;
  format: 'raw' | 'qcow2';
  readOnly?: boolean;
}

export interface VmLayout {
  accel: Accelerator;
  cpus: number;
  memoryMb: number;
  kernelPath: string;
  initrdPath: string;
  kernelArgs: string;
  /** The machine's root filesystem (first virtio-blk device, /dev/vda). */
  rootDisk: Disk;
  /** Further disks (volumes), /dev/vdb onwards. */
  disks: Disk[];
  /** TAP device for the machine's network, or none. */
  tap?: { ifname: string; mac: string };
  /** QMP control socket (unix). */
  qmpSocket: string;
  /** Host end of the guest agent channel (virtio-serial port `hangar.0`). */
  agentSocket: string;
  /** Serial console output, appended to this file. */
  consoleLog: string;
  pidFile: string;
  /**
   * Guest RAM in this file, mapped shared: a suspend then saves only the devices'
   * state, because the memory is already in that file (migration's `x-ignore-shared`).
   * Without it the RAM is anonymous memory.
   */
  memoryFile?: string;
  /**
   * Map `memoryFile` private (copy-on-write): the guest starts from what the file
   * holds and its writes stay its own. A fork's child maps its parent's frozen RAM so.
   */
  memoryPrivate?: boolean;
  /**
   * The guest reports the pages it frees (virtio-balloon free page reporting), and
   * QEMU gives them back to the host: they leave the host's RAM and the RAM file.
   */
  freePageReporting?: boolean;
  /** Under TCG, the size of QEMU's buffer of translated guest code (its default is 1 GiB, filled as code runs). */
  tcgBufferMb?: number;
  /**
   * Wait for the VM's state on the migration channel (`-incoming defer`) instead of
   * booting. Such a QEMU gets no kernel or initramfs: the guest's memory arrives with
   * its state, and QEMU would otherwise hold a copy of the kernel (≈ 14 MB) for boots
   * that never come.
   */
  incoming?: boolean;
  /** Where QEMU writes its own messages (-D; with -daemonize, its stderr goes there too). */
  logFile?: string;
}

/** Chooses KVM when the CPU has hardware virtualization and /dev/kvm is there. */
export function chooseAccelerator(cpuinfo: string, kvmDevicePresent: boolean): Accelerator {
  return kvmDevicePresent && /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo) ? 'kvm' : 'tcg';
}

/** QEMU's -drive value escapes commas by doubling them. */
function option(value: string): string {
  return value.replaceAll(',', ',,');
}

export function qemuArgv(layout: VmLayout): string[] {
  const machine = `microvm,x-option-roms=off,isa-serial=on,rtc=on${layout.memoryFile ? ',memory-backend=ram' : ''}`;
  const argv = [
    '-name', 'hangar',
    '-machine', machine,
    '-accel', layout.accel === 'tcg' && layout.tcgBufferMb ? `tcg,tb-size=${layout.tcgBufferMb}` : layout.accel,
    '-cpu', layout.accel === 'kvm' ? 'host' : 'max',
    '-smp', String(layout.cpus),
    '-m', `${layout.memoryMb}M`,
    ...(layout.memoryFile ? ['-object', `memory-backend-file,id=ram,size=${layout.memoryMb}M,mem-path=${option(layout.memoryFile)},share=${layout.memoryPrivate ? 'off' : 'on'}`] : []),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    ...(layout.incoming ? [] : ['-kernel', layout.kernelPath, '-initrd', layout.initrdPath, '-append', layout.kernelArgs]),
    '-chardev', `file,id=console,path=${option(layout.consoleLog)},append=on`,
    '-serial', 'chardev:console',
    '-qmp', `unix:${option(layout.qmpSocket)},server=on,wait=off`,
    '-pidfile', layout.pidFile,
    ...(layout.logFile ? ['-D', layout.logFile] : []),
  ];
  [layout.rootDisk, ...layout.disks].forEach((disk, index) => {
    argv.push(
      '-drive', `id=disk${index},file=${option(disk.path)},format=${disk.format},if=none,cache=none,aio=threads${disk.readOnly ? ',readonly=on' : ''}`,
      '-device', `virtio-blk-device,drive=disk${index}`,
    );
  });
  if (layout.tap) {
    argv.push(
      '-netdev', `tap,id=net0,ifname=${layout.tap.ifname},script=no,downscript=no`,
      '-device', `virtio-net-device,netdev=net0,mac=${layout.tap.mac}`,
    );
  }
  argv.push(
    '-device', 'virtio-serial-device',
    '-chardev', `socket,id=agent,path=${option(layout.agentSocket)},server=on,wait=off`,
    '-device', 'virtserialport,chardev=agent,name=hangar.0',
    '-device', layout.freePageReporting ? 'virtio-balloon-device,free-page-reporting=on' : 'virtio-balloon-device',
  );
  if (layout.incoming) argv.push('-incoming', 'defer');
  return argv;
}

export interface KernelArgsInput {
  /**
   * Under TCG the guest reads the host's TSC, and the kernel's calibration of it
   * against the PIT races the host's scheduling: about half of boots stalled before
   * init on a 2-core host. Giving the rate outright (`tsc_early_khz`) made 8 of 8 boot.
   */
  tscKhz?: number;
  /** Extra arguments from `guest.kernel_args`/`init.kernel_args`. */
  extra?: string[];
}

/** The guest kernel's command line: quiet serial console, never reboot, panic stops the VM. */
export function kernelCommandLine(input: KernelArgsInput = {}): string {
  const base = ['console=ttyS0', 'quiet', 'panic=-1', 'reboot=t', 'random.trust_cpu=on'];
  if (input.tscKhz) base.push(`tsc_early_khz=${input.tscKhz}`);
  return [...base, ...(input.extra ?? [])].join(' ');
}

/** The host's TSC rate in kHz, from /proc/cpuinfo's "cpu MHz" (the TSC runs at the nominal rate). */
export function tscKhzFromCpuinfo(cpuinfo: string): number | undefined {
  const match = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo);
  return match ? Math.round(Number(match[1]) * 1000) : undefined;
}
