/**
 * Machine config: the checks Fly applies and the normal form hangar stores.
 * Clients send durations as Go strings or nanoseconds, `autostop` as a boolean or
 * a string, a named `size` instead of `guest`; the stored config has one form for
 * each, so that a config read back and sent again with `update` is unchanged.
 */
import { invalid } from './errors.ts';
import { formatGoDuration, parseDurationInput } from './duration.ts';
import { type Guest, guestForSize, normalizeGuest } from './guest.ts';
import { parseSignal } from './signals.ts';

export type RestartPolicy = 'no' | 'on-failure' | 'always';
export type Autostop = false | true | 'suspend';

export interface MachineService {
  protocol: string;
  internal_port: number;
  autostop?: Autostop;
  autostart?: boolean;
  min_machines_running?: number;
  ports?: Array<Record<string, unknown>>;
  concurrency?: { type?: string; soft_limit?: number; hard_limit?: number };
  checks?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

export interface MachineConfig {
  image: string;
  guest: Guest;
  init: { exec?: string[]; entrypoint?: string[]; cmd?: string[]; swap_size_mb?: number; tty?: boolean; [key: string]: unknown };
  env?: Record<string, string>;
  metadata?: Record<string, string>;
  restart?: { policy: RestartPolicy; max_retries?: number };
  stop_config?: { signal?: string; timeout?: string };
  services?: MachineService[];
  checks?: Record<string, Record<string, unknown>>;
  mounts?: Array<{ volume: string; path: string; [key: string]: unknown }>;
  files?: Array<{ guest_path: string; raw_value?: string; secret_name?: string; [key: string]: unknown }>;
  schedule?: string;
  auto_destroy?: boolean;
  dns?: { nameservers?: string[]; searches?: string[]; [key: string]: unknown };
  rootfs?: { persist?: 'never' | 'restart' | 'always'; size_gb?: number; [key: string]: unknown };
  [key: string]: unknown;
}

const SCHEDULES = ['hourly', 'daily', 'weekly', 'monthly'];
const RESTART_POLICIES: RestartPolicy[] = ['no', 'on-failure', 'always'];
const CHECK_DURATIONS = ['interval', 'timeout', 'grace_period'];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Checks a config from a request and returns its stored form. */
export function normalizeConfig(input: unknown): MachineConfig {
  if (!isObject(input)) throw invalid('config is required');
  const config: Record<string, unknown> = structuredClone(input);
  if (typeof config.image !== 'string' || config.image.trim() === '') throw invalid('config.image is required');

  config.guest = normalizeGuestField(config);
  delete config.size;
  config.init = isObject(config.init) ? config.init : {};
  checkStringArrays(config.init as Record<string, unknown>, 'config.init', ['exec', 'entrypoint', 'cmd']);
  checkStringMap(config.env, 'config.env');
  checkStringMap(config.metadata, 'config.metadata');
  if (config.restart !== undefined) config.restart = normalizeRestart(config.restart);
  if (config.stop_config !== undefined) config.stop_config = normalizeStopConfig(config.stop_config);
  if (config.services !== undefined) config.services = normalizeServices(config.services);
  if (config.checks !== undefined) config.checks = normalizeChecks(config.checks);
  if (config.mounts !== undefined) checkMounts(config.mounts);
  if (config.files !== undefined) checkFiles(config.files);
  if (config.rootfs !== undefined) checkRootfs(config.rootfs);
  if (config.dns !== undefined) {
    if (!isObject(config.dns)) throw invalid('config.dns must be an object');
    checkStringArrays(config.dns, 'config.dns', ['nameservers', 'searches']);
  }
  if (config.schedule !== undefined && config.schedule !== '' && !SCHEDULES.includes(String(config.schedule))) {
    throw invalid(`config.schedule must be one of ${SCHEDULES.join(', ')}`);
  }
  if (config.auto_destroy !== undefined && typeof config.auto_destroy !== 'boolean') {
    throw invalid('config.auto_destroy must be a boolean');
  }
  return config as MachineConfig;
}

function normalizeGuestField(config: Record<string, unknown>): Guest {
  if (config.size !== undefined && config.size !== '') {
    if (typeof config.size !== 'string') throw invalid('config.size must be a string such as "shared-cpu-1x"');
    const sized = guestForSize(config.size);
    if (isObject(config.guest) && (config.guest.cpus !== undefined || config.guest.memory_mb !== undefined)) {
      throw invalid('config.size and config.guest are mutually exclusive');
    }
    return normalizeGuest({ ...(isObject(config.guest) ? config.guest : {}), ...sized });
  }
  if (config.guest !== undefined && !isObject(config.guest)) throw invalid('config.guest must be an object');
  return normalizeGuest(config.guest as Partial<Guest> | undefined);
}

function normalizeRestart(value: unknown): MachineConfig['restart'] {
  if (!isObject(value)) throw invalid('config.restart must be an object');
  const policy = value.policy === undefined || value.policy === '' ? 'on-failure' : value.policy;
  if (!RESTART_POLICIES.includes(policy as RestartPolicy)) {
    throw invalid(`config.restart.policy must be one of ${RESTART_POLICIES.join(', ')}`);
  }
  const maxRetries = value.max_retries;
  if (maxRetries !== undefined && (!Number.isInteger(maxRetries) || (maxRetries as number) < 0)) {
    throw invalid('config.restart.max_retries must be a non-negative whole number');
  }
  return { ...value, policy: policy as RestartPolicy } as MachineConfig['restart'];
}

function normalizeStopConfig(value: unknown): MachineConfig['stop_config'] {
  if (!isObject(value)) throw invalid('config.stop_config must be an object');
  const out: Record<string, unknown> = { ...value };
  if (value.signal !== undefined && value.signal !== '') out.signal = parseSignal(value.signal, 'config.stop_config.signal');
  if (value.timeout !== undefined && value.timeout !== null) {
    out.timeout = formatGoDuration(parseDurationInput(value.timeout, 'config.stop_config.timeout', 'ns'));
  }
  return out as MachineConfig['stop_config'];
}

/** `autostop` arrives as false/true/"off"/"stop"/"suspend"; stored as false/true/"suspend". */
export function normalizeAutostop(value: unknown, field: string): Autostop {
  if (value === false || value === 'off' || value === undefined || value === null) return false;
  if (value === true || value === 'stop') return true;
  if (value === 'suspend') return 'suspend';
  throw invalid(`${field} must be one of false, true, "off", "stop", "suspend"`);
}

function normalizeServices(value: unknown): MachineService[] {
  if (!Array.isArray(value)) throw invalid('config.services must be an array');
  return value.map((service, index) => {
    const field = `config.services[${index}]`;
    if (!isObject(service)) throw invalid(`${field} must be an object`);
    const protocol = service.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') throw invalid(`${field}.protocol must be "tcp" or "udp"`);
    checkPort(service.internal_port, `${field}.internal_port`);
    const out: Record<string, unknown> = { ...service, protocol };
    if (service.autostop !== undefined) out.autostop = normalizeAutostop(service.autostop, `${field}.autostop`);
    if (service.ports !== undefined) {
      if (!Array.isArray(service.ports)) throw invalid(`${field}.ports must be an array`);
      service.ports.forEach((port, i) => checkServicePort(port, `${field}.ports[${i}]`));
    }
    if (service.concurrency !== undefined) checkConcurrency(service.concurrency, `${field}.concurrency`);
    if (service.checks !== undefined) {
      if (!Array.isArray(service.checks)) throw invalid(`${field}.checks must be an array`);
      out.checks = service.checks.map((check, i) => normalizeCheck(check, `${field}.checks[${i}]`));
    }
    return out as MachineService;
  });
}

function checkServicePort(port: unknown, field: string): void {
  if (!isObject(port)) throw invalid(`${field} must be an object`);
  if (port.port !== undefined) checkPort(port.port, `${field}.port`);
  if (port.start_port !== undefined || port.end_port !== undefined) {
    checkPort(port.start_port, `${field}.start_port`);
    checkPort(port.end_port, `${field}.end_port`);
    if ((port.start_port as number) > (port.end_port as number)) throw invalid(`${field}.start_port must not exceed end_port`);
  }
  if (port.handlers !== undefined && !(Array.isArray(port.handlers) && port.handlers.every((h) => ['http', 'tls', 'tcp', 'proxy_proto', 'pg_tls', 'edge_http'].includes(h)))) {
    throw invalid(`${field}.handlers may hold "http", "tls", "tcp"`);
  }
}

function checkConcurrency(value: unknown, field: string): void {
  if (!isObject(value)) throw invalid(`${field} must be an object`);
  if (value.type !== undefined && value.type !== 'connections' && value.type !== 'requests') {
    throw invalid(`${field}.type must be "connections" or "requests"`);
  }
  for (const key of ['soft_limit', 'hard_limit'] as const) {
    if (value[key] !== undefined && (!Number.isInteger(value[key]) || (value[key] as number) < 1)) {
      throw invalid(`${field}.${key} must be a positive whole number`);
    }
  }
}

function normalizeChecks(value: unknown): MachineConfig['checks'] {
  if (!isObject(value)) throw invalid('config.checks must be an object of named checks');
  return Object.fromEntries(Object.entries(value).map(([name, check]) => [name, normalizeCheck(check, `config.checks.${name}`)]));
}

function normalizeCheck(check: unknown, field: string): Record<string, unknown> {
  if (!isObject(check)) throw invalid(`${field} must be an object`);
  if (check.type !== undefined && check.type !== 'tcp' && check.type !== 'http') throw invalid(`${field}.type must be "tcp" or "http"`);
  if (check.port !== undefined) checkPort(check.port, `${field}.port`);
  const out: Record<string, unknown> = { ...check };
  for (const key of CHECK_DURATIONS) {
    if (check[key] !== undefined && check[key] !== null) {
      out[key] = formatGoDuration(parseDurationInput(check[key], `${field}.${key}`, 'ns'));
    }
  }
  return out;
}

function checkMounts(value: unknown): void {
  if (!Array.isArray(value)) throw invalid('config.mounts must be an array');
  if (value.length > 1) throw invalid('config.mounts: a machine can mount only one volume');
  value.forEach((mount, i) => {
    if (!isObject(mount) || typeof mount.volume !== 'string' || mount.volume === '') throw invalid(`config.mounts[${i}].volume is required`);
    if (typeof mount.path !== 'string' || !mount.path.startsWith('/')) throw invalid(`config.mounts[${i}].path must be an absolute path`);
  });
}

function checkFiles(value: unknown): void {
  if (!Array.isArray(value)) throw invalid('config.files must be an array');
  value.forEach((file, i) => {
    const field = `config.files[${i}]`;
    if (!isObject(file)) throw invalid(`${field} must be an object`);
    if (typeof file.guest_path !== 'string' || !file.guest_path.startsWith('/')) throw invalid(`${field}.guest_path must be an absolute path`);
    const sources = ['raw_value', 'secret_name', 'image_config'].filter((key) => file[key] !== undefined && file[key] !== '');
    if (sources.length !== 1) throw invalid(`${field} needs exactly one of raw_value or secret_name`);
    if (file.raw_value !== undefined && (typeof file.raw_value !== 'string' || !BASE64.test(file.raw_value))) {
      throw invalid(`${field}.raw_value must be base64`);
    }
  });
}

function checkPort(value: unknown, field: string): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) {
    throw invalid(`${field} must be a port number from 1 to 65535`);
  }
}

const ROOTFS_PERSIST = ['never', 'restart', 'always'];

function checkRootfs(value: unknown): void {
  if (!isObject(value)) throw invalid('config.rootfs must be an object');
  if (value.persist !== undefined && !ROOTFS_PERSIST.includes(value.persist as string)) {
    throw invalid(`config.rootfs.persist must be one of ${ROOTFS_PERSIST.join(', ')}`);
  }
}

function checkStringArrays(object: Record<string, unknown>, field: string, keys: string[]): void {
  for (const key of keys) {
    const value = object[key];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
      throw invalid(`${field}.${key} must be an array of strings`);
    }
  }
}

function checkStringMap(value: unknown, field: string): void {
  if (value === undefined || value === null) return;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${field} must be an object of string values`);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
