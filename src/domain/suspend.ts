/** Whether a machine may be suspended, by Fly's rules. */
import type { MachineConfig } from './config.ts';

export const DEFAULT_SUSPEND_MAX_MEMORY_MB = 2048;

/** Returns the reason a machine may not be suspended, or null when it may. */
export function suspendRefusal(config: MachineConfig, maxMemoryMb: number): string | null {
  if (config.guest.memory_mb > maxMemoryMb) {
    return `machine has ${config.guest.memory_mb} MB of memory; suspend needs ${maxMemoryMb} MB or less`;
  }
  if ((config.init.swap_size_mb ?? 0) > 0) return 'machine has swap configured (init.swap_size_mb); suspend needs no swap';
  if (config.schedule) return `machine has a schedule (${config.schedule}); suspend needs no schedule`;
  if ((config.guest.gpus ?? 0) > 0 || config.guest.gpu_kind) return 'machine has a GPU; machines with GPUs cannot be suspended';
  return null;
}
