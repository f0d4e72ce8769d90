/** What a machine may leave on the host: its QEMU processes and its TAP in a namespace. */
import { execFileSync } from 'node:child_process';
import { tapName } from '../../src/network/plan.ts';

/** The pids (one per line) of QEMU processes running from the machine's directory; '' when none. */
export function qemuOf(machineId: string): string {
  try {
    return execFileSync('pgrep', ['-f', `qemu-system.*machines/${machineId}/`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function tapExists(netns: string, machineId: string): boolean {
  try {
    execFileSync('ip', ['-n', netns, 'link', 'show', tapName(machineId)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
