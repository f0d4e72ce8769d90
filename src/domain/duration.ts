/**
 * Go duration strings ("1h2m3.5s", "300ms", "10s"), as Fly's clients send them,
 * parsed to milliseconds and formatted back.
 */
import { invalid } from './errors.ts';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Parses a Go duration string; throws an invalid-argument error naming `field`. */
export function parseGoDuration(text: string, field: string): number {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  let sign = 1;
  let rest = trimmed;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '') throw invalid(`${field}: invalid duration "${text}"`);
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < rest.length) {
    const at = PART.lastIndex;
    const match = PART.exec(rest);
    if (!match || match.index !== at) throw invalid(`${field}: invalid duration "${text}"`);
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  if (sign < 0) throw invalid(`${field}: duration must not be negative`);
  return total;
}

/**
 * A duration given as a Go string or a number. `numberUnit` says what a bare
 * number means: config fields carry nanoseconds, request fields seconds.
 */
export function parseDurationInput(value: unknown, field: string, numberUnit: 'ns' | 's'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw invalid(`${field}: duration must be a non-negative number`);
    return numberUnit === 'ns' ? value / 1e6 : value * 1000;
  }
  if (typeof value === 'string') {
    if (/^\d+(\.\d+)?$/.test(value.trim())) return parseDurationInput(Number(value), field, numberUnit);
    return parseGoDuration(value, field);
  }
  throw invalid(`${field}: expected a duration such as "10s"`);
}

/** Formats milliseconds as a Go duration string ("1m30s", "250ms", "0s"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${trimNumber(ms)}ms`;
  let rest = ms / 1000;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  rest -= minutes * 60;
  let out = '';
  if (hours) out += `${hours}h`;
  if (hours || minutes) out += `${minutes}m`;
  out += `${trimNumber(rest)}s`;
  return out;
}

function trimNumber(n: number): string {
  return String(Number(n.toFixed(6)));
}

/** The longest a config's durations may be (stop grace period, check intervals). */
export const MAX_CONFIG_DURATION_MS = 24 * 3_600_000;

/** A duration of a machine config (nanoseconds or a Go string), checked and in its stored form (a Go duration string). */
export function configDuration(value: string | number, field: string, atLeastMs = 0): string {
  const ms = parseDurationInput(value, field, 'ns');
  if (ms < atLeastMs) throw invalid(`${field} must be at least ${formatGoDuration(atLeastMs)}`);
  if (ms > MAX_CONFIG_DURATION_MS) throw invalid(`${field} must be at most ${formatGoDuration(MAX_CONFIG_DURATION_MS)}`);
  return formatGoDuration(ms);
}
