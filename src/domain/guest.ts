/**
 * Guest sizes: the named presets Fly accepts (`shared-cpu-2x`, `performance-4x`)
 * and the rules a `guest` object must follow.
 */
import { invalid } from './errors.ts';

export interface Guest {
  cpu_kind: string;
  cpus: number;
  memory_mb: number;
  gpu_kind?: string;
  gpus?: number;
  kernel_args?: string[];
  [key: string]: unknown;
}

export const DEFAULT_GUEST: Guest = { cpu_kind: 'shared', cpus: 1, memory_mb: 256 };

const PRESET = /^(shared-cpu|performance)-(\d+)x$/;
const MEMORY_PER_CPU = { shared: 256, performance: 2048 } as const;
const VALID_CPUS = [1, 2, 4, 8, 16];
export const MAX_MEMORY_MB = 256 * 1024;

/** Expands a named size; throws for an unknown one. */
export function guestForSize(size: string): Guest {
  const match = PRESET.exec(size);
  const cpus = match ? Number(match[2]) : NaN;
  if (!match || !VALID_CPUS.includes(cpus)) {
    throw invalid(`unknown size "${size}"`, 'sizes look like shared-cpu-1x, shared-cpu-2x, performance-2x');
  }
  const kind = match[1] === 'shared-cpu' ? 'shared' : 'performance';
  return { cpu_kind: kind, cpus, memory_mb: cpus * MEMORY_PER_CPU[kind] };
}

/** Fills defaults into a guest object and checks it. */
export function normalizeGuest(input: Partial<Guest> | undefined): Guest {
  const guest: Guest = { ...DEFAULT_GUEST, ...(input ?? {}) } as Guest;
  if (guest.cpu_kind !== 'shared' && guest.cpu_kind !== 'performance') {
    throw invalid(`guest.cpu_kind must be "shared" or "performance", got "${guest.cpu_kind}"`);
  }
  if (!VALID_CPUS.includes(guest.cpus)) {
    throw invalid(`guest.cpus must be one of ${VALID_CPUS.join(', ')}, got ${guest.cpus}`);
  }
  if (!Number.isInteger(guest.memory_mb) || guest.memory_mb < 256 || guest.memory_mb % 256 !== 0) {
    throw invalid(`guest.memory_mb must be a multiple of 256 (at least 256), got ${guest.memory_mb}`);
  }
  if (guest.memory_mb > MAX_MEMORY_MB) {
    throw invalid(`guest.memory_mb must be at most ${MAX_MEMORY_MB}, got ${guest.memory_mb}`);
  }
  return guest;
}
