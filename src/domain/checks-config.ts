/**
 * Health checks in a machine config (`config.checks` by name, and each service's
 * `checks`): what they may hold. The edge proxy sends what is here over HTTP, so
 * a method, path or header must be one an HTTP request can carry; intervals are a
 * second or more, so checks cannot flood a machine.
 */
import type { MachineCheckInput, ServiceInput } from './config-schema.ts';
import { invalid } from './errors.ts';
import { configDuration } from './duration.ts';

/** A check as stored: durations as Go duration strings. */
export type MachineCheck = Omit<MachineCheckInput, 'interval' | 'timeout' | 'grace_period'> & {
  interval?: string;
  timeout?: string;
  grace_period?: string;
};

export const MAX_CHECKS = 32;
const MAX_HEADERS = 32;
const MIN_INTERVAL_MS = 1000;
const MIN_TIMEOUT_MS = 1;

/** RFC 9110 token: methods and header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
/** A request target's path: visible ASCII only (no space, CR, LF, NUL or byte above 0x7e). */
const PATH = /^\/[\x21-\x7e]{0,2047}$/;
/** A header value: visible ASCII, spaces and tabs. */
const HEADER_VALUE = /^[\x20-\x7e\t]{0,8192}$/;
const HOST_NAME = /^[A-Za-z0-9.-]{1,253}$/;

export interface NormalizedChecks {
  topLevel: Record<string, MachineCheck> | undefined;
  /** Per service, in order; undefined where a service has none. */
  services: Array<MachineCheck[] | undefined>;
}

export function checkHealthChecks(topLevel: Record<string, MachineCheckInput> | undefined, services: Array<Pick<ServiceInput, 'checks'>> | undefined): NormalizedChecks {
  const count = Object.keys(topLevel ?? {}).length + (services ?? []).reduce((n, s) => n + (s.checks?.length ?? 0), 0);
  if (count > MAX_CHECKS) throw invalid(`config holds ${count} health checks; at most ${MAX_CHECKS} are allowed`);
  return {
    topLevel: topLevel && Object.fromEntries(Object.entries(topLevel).map(([name, check]) => {
      if (!TOKEN.test(name)) throw invalid(`config.checks: "${name}" is not a check name (letters, digits, - _ .)`);
      const field = `config.checks.${name}`;
      if (check.kind !== undefined && check.kind !== '' && check.kind !== 'informational' && check.kind !== 'readiness') {
        throw invalid(`${field}.kind must be "informational" or "readiness"`);
      }
      return [name, normalizeCheck(check, field)];
    })),
    services: (services ?? []).map((service, i) => service.checks?.map((check, j) => normalizeCheck(check, `config.services[${i}].checks[${j}]`))),
  };
}

function normalizeCheck(check: MachineCheckInput, field: string): MachineCheck {
  if (check.type !== undefined && check.type !== 'tcp' && check.type !== 'http') throw invalid(`${field}.type must be "tcp" or "http"`);
  if (check.port !== undefined && (check.port < 1 || check.port > 65535)) throw invalid(`${field}.port must be a port number from 1 to 65535`);
  if (check.method !== undefined && check.method !== '' && !TOKEN.test(check.method)) {
    throw invalid(`${field}.method must be an HTTP method (letters, no spaces or control characters)`);
  }
  if (check.path !== undefined && check.path !== '' && !PATH.test(check.path)) {
    throw invalid(`${field}.path must start with "/" and hold only visible ASCII characters (no spaces, CR, LF, NUL or non-ASCII)`);
  }
  if (check.protocol !== undefined && check.protocol !== '' && check.protocol !== 'http' && check.protocol !== 'https') {
    throw invalid(`${field}.protocol must be "http" or "https"`);
  }
  if (check.tls_server_name !== undefined && check.tls_server_name !== '' && !HOST_NAME.test(check.tls_server_name)) {
    throw invalid(`${field}.tls_server_name must be a host name`);
  }
  checkHeaders(check.headers, `${field}.headers`);
  const out: Record<string, unknown> = { ...check };
  if (check.interval !== undefined) out.interval = configDuration(check.interval, `${field}.interval`, MIN_INTERVAL_MS);
  if (check.timeout !== undefined) out.timeout = configDuration(check.timeout, `${field}.timeout`, MIN_TIMEOUT_MS);
  if (check.grace_period !== undefined) out.grace_period = configDuration(check.grace_period, `${field}.grace_period`);
  return out as MachineCheck;
}

function checkHeaders(headers: MachineCheckInput['headers'], field: string): void {
  if (headers === undefined) return;
  if (headers.length > MAX_HEADERS) throw invalid(`${field} holds more than ${MAX_HEADERS} headers`);
  headers.forEach((header, i) => {
    if (header.name === undefined || !TOKEN.test(header.name)) throw invalid(`${field}[${i}].name must be a header name (no spaces or control characters)`);
    if (!(header.values ?? []).every((value) => HEADER_VALUE.test(value))) {
      throw invalid(`${field}[${i}].values must hold visible ASCII characters only (no CR, LF, NUL or non-ASCII)`);
    }
  });
}
