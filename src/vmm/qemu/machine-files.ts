/** Where a machine's files live on the host, under `<data dir>/machines/<id>/`. */
import { join } from 'node:path';

export interface MachineFiles {
  dir: string;
  overlay: string;
  initrd: string;
  qmpSocket: string;
  agentSocket: string;
  consoleLog: string;
  pidFile: string;
  /** The prepared image of the current version (JSON). */
  prepared: string;
}

export function machineFiles(machinesDir: string, machineId: string): MachineFiles {
  const dir = join(machinesDir, machineId);
  return {
    dir,
    overlay: join(dir, 'rootfs.qcow2'),
    initrd: join(dir, 'initrd.img'),
    qmpSocket: join(dir, 'qmp.sock'),
    agentSocket: join(dir, 'agent.sock'),
    consoleLog: join(dir, 'console.log'),
    pidFile: join(dir, 'qemu.pid'),
    prepared: join(dir, 'prepared.json'),
  };
}

/** qemu-img argv for a copy-on-write overlay over a machine's shared base image. */
export function overlayArgv(base: string, overlay: string): string[] {
  return ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, overlay];
}
