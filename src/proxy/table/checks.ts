/**
 * Health checks as the machine's config defines them (`config.checks` by name, and
 * each service's `checks`), and how a run's outcome becomes Fly's check status:
 * `passing`, `warning` (not known yet, or failing within the grace period) or
 * `critical`. Pure.
 */
import type { MachineConfig } from '../../domain/config.ts';
import { parseGoDuration } from '../../domain/duration.ts';

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface CheckSpec {
  name: string;
  type: 'tcp' | 'http';
  port: number;
  intervalMs: number;
  timeoutMs: number;
  gracePeriodMs: number;
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** Fly's defaults. */
const DEFAULT_INTERVAL_MS = 15_000;
const DEFAULT_TIMEOUT_MS = 2_000;

export function checkSpecs(config: MachineConfig): CheckSpec[] {
  const specs: CheckSpec[] = [];
  for (const [name, check] of Object.entries(config.checks ?? {})) {
    const spec = checkSpec(name, check, undefined);
    if (spec) specs.push(spec);
  }
  let n = 0;
  for (const service of config.services ?? []) {
    for (const check of service.checks ?? []) {
      const type = check.type === 'http' ? 'http' : 'tcp';
      const port = typeof check.port === 'number' ? check.port : service.internal_port;
      // Fly's names for service checks: servicecheck-00-http-8080.
      const spec = checkSpec(`servicecheck-${String(n++).padStart(2, '0')}-${type}-${port}`, check, service.internal_port);
      if (spec) specs.push(spec);
    }
  }
  return specs;
}

/** The status after a run that ended `ok` or not, `sinceStartMs` after the machine started. */
export function statusAfter(ok: boolean, sinceStartMs: number, spec: CheckSpec): CheckStatus {
  if (ok) return 'passing';
  return sinceStartMs < spec.gracePeriodMs ? 'warning' : 'critical';
}

function checkSpec(name: string, check: Record<string, unknown>, defaultPort: number | undefined): CheckSpec | undefined {
  const port = typeof check.port === 'number' ? check.port : defaultPort;
  if (port === undefined) return undefined;
  return {
    name,
    type: check.type === 'http' ? 'http' : 'tcp',
    port,
    intervalMs: duration(check.interval, DEFAULT_INTERVAL_MS),
    timeoutMs: duration(check.timeout, DEFAULT_TIMEOUT_MS),
    gracePeriodMs: duration(check.grace_period, 0),
    method: typeof check.method === 'string' && check.method !== '' ? check.method.toUpperCase() : 'GET',
    path: typeof check.path === 'string' && check.path !== '' ? check.path : '/',
    headers: headerMap(check.headers),
  };
}

/** A stored duration; one that cannot be read (stored before today's rules) is the default, never a throw. */
function duration(value: unknown, fallback: number): number {
  if (typeof value !== 'string' || value === '') return fallback;
  try {
    return parseGoDuration(value, 'check duration');
  } catch {
    return fallback;
  }
}

/** Fly sends headers as `[{name, values: [..]}]`; a plain object is taken too. Names are the user's: gathered in a Map. */
function headerMap(value: unknown): Record<string, string> {
  const headers = new Map<string, string>();
  if (Array.isArray(value)) {
    for (const header of value as Array<{ name?: unknown; values?: unknown; value?: unknown }>) {
      if (typeof header?.name !== 'string') continue;
      const values = Array.isArray(header.values) ? header.values : header.value !== undefined ? [header.value] : [];
      headers.set(header.name, values.map(String).join(', '));
    }
  } else if (value && typeof value === 'object') {
    for (const [name, v] of Object.entries(value)) headers.set(name, Array.isArray(v) ? v.map(String).join(', ') : String(v));
  }
  return Object.fromEntries(headers);
}
