/**
 * Guest sizes: the named presets Fly accepts (`shared-cpu-2x`, `performance-4x`)
 * and the rules a `guest` object must follow.
 */
import type { GuestInput } from './config-schema.ts';
import { invalid } from './errors.ts';

/** A guest as stored: kind, CPUs and memory always set. */
export type Guest = GuestInput & { cpu_kind: string; cpus: number; memory_mb: number };

export const DEFAULT_GUEST: Guest = { cpu_kind: 'shared', cpus: 1, memory_mb: 256 };

const PRESET = /^(shared-cpu|performance)-(\d+)x$/;
const MEMORY_PER_CPU = { shared: 256, performance: 2048 } as const;
/** The CPU counts of flyctl's presets, per kind (shared-cpu-6x, performance-10x/12x/14x included). */
const VALID_CPUS: Record<string, number[]> = { shared: [1, 2, 4, 6, 8], performance: [1, 2, 4, 6, 8, 10, 12, 14, 16] };
export const MAX_MEMORY_MB = 256 * 1024;

/** Expands a named size; throws for an unknown one. */
export function guestForSize(size: string): Guest {
  const match = PRESET.exec(size);
  const cpus = match ? Number(match[2]) : NaN;
  const kind = match?.[1] === 'shared-cpu' ? 'shared' : 'performance';
  if (!match || !VALID_CPUS[kind]?.includes(cpus)) {
    throw invalid(`unknown size "${size}"`, 'sizes look like shared-cpu-1x, shared-cpu-6x, performance-2x, performance-12x');
  }
  return { cpu_kind: kind, cpus, memory_mb: cpus * MEMORY_PER_CPU[kind] };
}

/** Fills defaults into a guest object and checks it. */
export function normalizeGuest(input: GuestInput | undefined): Guest {
  const guest: Guest = { ...DEFAULT_GUEST, ...(input ?? {}) } as Guest;
  if (guest.cpu_kind !== 'shared' && guest.cpu_kind !== 'performance') {
    throw invalid(`guest.cpu_kind must be "shared" or "performance", got "${guest.cpu_kind}"`);
  }
  const cpus = VALID_CPUS[guest.cpu_kind] as number[];
  if (!cpus.includes(guest.cpus)) {
    throw invalid(`guest.cpus must be one of ${cpus.join(', ')} for cpu_kind ${guest.cpu_kind}, got ${guest.cpus}`);
  }
  if (!Number.isInteger(guest.memory_mb) || guest.memory_mb < 256 || guest.memory_mb % 256 !== 0) {
    throw invalid(`guest.memory_mb must be a multiple of 256 (at least 256), got ${guest.memory_mb}`);
  }
  if ((guest.gpus ?? 0) !== 0 || (guest.gpu_kind ?? '') !== '') {
    throw invalid('guest.gpus: hangar machines have no GPUs', 'leave gpus and gpu_kind unset');
  }
  if (!(guest.kernel_args ?? []).every((arg) => /^[\x21-\x7e]+$/.test(arg)) || (guest.kernel_args ?? []).join(' ').length > 1024) {
    throw invalid('guest.kernel_args must be words of visible ASCII characters, 1024 characters in all at most');
  }
  if (guest.memory_mb > MAX_MEMORY_MB) {
    throw invalid(`guest.memory_mb must be at most ${MAX_MEMORY_MB}, got ${guest.memory_mb}`);
  }
  return guest;
}
