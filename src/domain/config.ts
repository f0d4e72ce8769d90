/**
 * Machine config: the checks Fly applies and the normal form hangar stores.
 * The shape is `MachineConfigSchema` (what fly-go decodes); this file checks the
 * meaning. Clients send durations as Go strings or nanoseconds, `autostop` as a
 * boolean or a string, a named `size` instead of `guest`, `null` for unset fields;
 * the stored config has one form for each, so that a config read back and sent
 * again with `update` is unchanged, and every stored config passes the schema.
 */
import { checkHealthChecks, type MachineCheck } from './checks-config.ts';
import {
  type FileInput, MachineConfigSchema, type MachineConfigInput, type MountInput, type ServiceInput,
} from './config-schema.ts';
import { errorMessage, invalid } from './errors.ts';
import { configDuration } from './duration.ts';
import { caseClashes, schemaChecker, withoutNulls } from './go-json.ts';
import { type Guest, guestForSize, normalizeGuest } from './guest.ts';
import { parseSignal } from './signals.ts';

export type { MachineCheck } from './checks-config.ts';
export type RestartPolicy = 'no' | 'on-failure' | 'always';
export type Autostop = false | true | 'suspend';
export type RootfsPersist = 'never' | 'restart' | 'always';

export type MachineService = Omit<ServiceInput, 'protocol' | 'internal_port' | 'autostop' | 'checks'> & {
  protocol: 'tcp' | 'udp';
  internal_port: number;
  autostop?: Autostop;
  checks?: MachineCheck[];
};

/** A config as hangar stores it: checked, with one form for every field. */
export type MachineConfig = Omit<MachineConfigInput, 'guest' | 'init' | 'restart' | 'stop_config' | 'services' | 'checks' | 'rootfs' | 'mounts' | 'files'> & {
  guest: Guest;
  init: NonNullable<MachineConfigInput['init']>;
  restart?: { policy: RestartPolicy; max_retries?: number };
  stop_config?: { signal?: string; timeout?: string };
  services?: MachineService[];
  checks?: Record<string, MachineCheck>;
  rootfs?: { persist?: RootfsPersist; size_gb?: number };
  mounts?: Array<MountInput & { volume: string; path: string }>;
  files?: Array<FileInput & { guest_path: string }>;
};

/** The largest config accepted, as JSON. */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** The most services, public ports per service, and port numbers per range a machine may have. */
export const MAX_SERVICES = 32;
export const MAX_PORTS_PER_SERVICE = 32;
export const MAX_PORT_RANGE = 100;
export const MAX_FILES = 64;
export const MAX_ENV = 1024;

const SCHEDULES = ['hourly', 'daily', 'weekly', 'monthly'];
const RESTART_POLICIES: RestartPolicy[] = ['no', 'on-failure', 'always'];
const HANDLERS = ['http', 'tls', 'tcp', 'proxy_proto', 'pg_tls', 'edge_http'];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Text hangar-init passes on as C strings (argv, environment): no NUL. */
const NO_NUL = /^[^\0]*$/;
const ENV_NAME = /^[^=\0]+$/;
const PERSIST_NUMBERS: Record<number, RootfsPersist | undefined> = { 0: undefined, 1: 'never', 2: 'restart', 3: 'always' };

const checkShape = schemaChecker(MachineConfigSchema, 'config');

/** Checks a config from a request and returns its stored form. */
export function normalizeConfig(input: unknown): MachineConfig {
  if (!isObject(input)) throw invalid('config is required');
  if (JSON.stringify(input).length > MAX_CONFIG_BYTES) throw invalid(`config is larger than ${MAX_CONFIG_BYTES / 1024} KiB`);
  const config = withoutNulls(MachineConfigSchema, input) as Record<string, unknown>;
  checkShape(config);
  const clashes = caseClashes(MachineConfigSchema, config, 'config');
  if (clashes.length > 0) throw invalid(`config field names differ from Fly's only by case: ${clashes.join(', ')}`);
  const typed = config as MachineConfigInput;
  if (typed.image.trim() === '') throw invalid('config.image is required');
  if (!/^[^\s\0]+$/.test(typed.image)) throw invalid('config.image must not hold spaces or control characters');
  for (const unsupported of ['containers', 'volumes'] as const) {
    if ((typed[unsupported]?.length ?? 0) > 0) throw invalid(`config.${unsupported} is not supported by hangar`, 'run one image per machine');
  }

  const out: Record<string, unknown> = { ...config };
  out.guest = normalizeGuestField(typed);
  delete out.size;
  out.init = typed.init ?? {};
  checkInit(typed.init ?? {});
  checkEnv(typed.env);
  if (typed.restart !== undefined) out.restart = normalizeRestart(typed.restart);
  if (typed.stop_config !== undefined) out.stop_config = normalizeStopConfig(typed.stop_config);
  if (typed.services !== undefined) out.services = normalizeServices(typed.services);
  const checks = checkHealthChecks(typed.checks, out.services as MachineService[] | undefined);
  if (typed.checks !== undefined) out.checks = checks.topLevel;
  if (out.services) out.services = (out.services as MachineService[]).map((service, i) => (service.checks ? { ...service, checks: checks.services[i] } : service));
  if (typed.mounts !== undefined) checkMounts(typed.mounts);
  if (typed.files !== undefined) checkFiles(typed.files);
  if (typed.rootfs !== undefined) out.rootfs = normalizeRootfs(typed.rootfs);
  if (typed.dns !== undefined) checkDns(typed.dns);
  if (typed.schedule !== undefined && typed.schedule !== '' && !SCHEDULES.includes(typed.schedule)) {
    throw invalid(`config.schedule must be one of ${SCHEDULES.join(', ')}`);
  }
  return out as MachineConfig;
}

/** Why a config read back from storage cannot be used, or null when it can (it passes the rules again). */
export function storedConfigProblem(config: unknown): string | null {
  try {
    normalizeConfig(config);
    return null;
  } catch (error) {
    return errorMessage(error);
  }
}

function normalizeGuestField(config: MachineConfigInput): Guest {
  if (config.size !== undefined && config.size !== '') {
    const sized = guestForSize(config.size);
    if (config.guest && (config.guest.cpus !== undefined || config.guest.memory_mb !== undefined)) {
      throw invalid('config.size and config.guest are mutually exclusive');
    }
    return normalizeGuest({ ...config.guest, ...sized });
  }
  return normalizeGuest(config.guest);
}

function checkInit(init: NonNullable<MachineConfigInput['init']>): void {
  for (const key of ['exec', 'entrypoint', 'cmd', 'kernel_args'] as const) {
    if (!(init[key] ?? []).every((part) => NO_NUL.test(part))) throw invalid(`config.init.${key} must not hold NUL characters`);
  }
  if ((init.swap_size_mb ?? 0) < 0) throw invalid('config.init.swap_size_mb must not be negative');
}

function checkEnv(env: Record<string, string> | undefined): void {
  const entries = Object.entries(env ?? {});
  if (entries.length > MAX_ENV) throw invalid(`config.env holds more than ${MAX_ENV} variables`);
  for (const [name, value] of entries) {
    if (!ENV_NAME.test(name)) throw invalid(`config.env: "${name}" is not a variable name (no "=" or NUL, not empty)`);
    if (!NO_NUL.test(value)) throw invalid(`config.env.${name} must not hold NUL characters`);
  }
}

function normalizeRestart(value: NonNullable<MachineConfigInput['restart']>): MachineConfig['restart'] {
  const policy = value.policy === undefined || value.policy === '' ? 'on-failure' : value.policy;
  if (!RESTART_POLICIES.includes(policy as RestartPolicy)) {
    throw invalid(`config.restart.policy must be one of ${RESTART_POLICIES.join(', ')}`);
  }
  if (value.max_retries !== undefined && value.max_retries < 0) {
    throw invalid('config.restart.max_retries must be a non-negative whole number');
  }
  return { ...value, policy: policy as RestartPolicy };
}

/** An empty signal is Go's zero value: unset, so the default (SIGINT) applies; it is not stored. */
function normalizeStopConfig(value: NonNullable<MachineConfigInput['stop_config']>): MachineConfig['stop_config'] {
  const out: Record<string, unknown> = { ...value };
  if (value.signal === '') delete out.signal;
  else if (value.signal !== undefined) out.signal = parseSignal(value.signal, 'config.stop_config.signal');
  if (value.timeout !== undefined) out.timeout = configDuration(value.timeout, 'config.stop_config.timeout');
  return out as MachineConfig['stop_config'];
}

/** `autostop` arrives as false/true/"off"/"stop"/"suspend"; stored as false/true/"suspend". */
export function normalizeAutostop(value: unknown, field: string): Autostop {
  if (value === false || value === 'off' || value === undefined || value === null) return false;
  if (value === true || value === 'stop') return true;
  if (value === 'suspend') return 'suspend';
  throw invalid(`${field} must be one of false, true, "off", "stop", "suspend"`);
}

function normalizeServices(services: ServiceInput[]): MachineService[] {
  if (services.length > MAX_SERVICES) throw invalid(`config.services holds more than ${MAX_SERVICES} services`);
  return services.map((service, index) => {
    const field = `config.services[${index}]`;
    const protocol = service.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') throw invalid(`${field}.protocol must be "tcp" or "udp"`);
    checkPort(service.internal_port, `${field}.internal_port`);
    const out: Record<string, unknown> = { ...service, protocol };
    if (service.autostop !== undefined) out.autostop = normalizeAutostop(service.autostop, `${field}.autostop`);
    const ports = service.ports ?? [];
    if (ports.length > MAX_PORTS_PER_SERVICE) throw invalid(`${field}.ports holds more than ${MAX_PORTS_PER_SERVICE} entries`);
    ports.forEach((port, i) => checkServicePort(port, `${field}.ports[${i}]`));
    if (service.concurrency !== undefined) checkConcurrency(service.concurrency, `${field}.concurrency`);
    if ((service.min_machines_running ?? 0) < 0) throw invalid(`${field}.min_machines_running must not be negative`);
    return out as MachineService;
  });
}

function checkServicePort(port: NonNullable<ServiceInput['ports']>[number], field: string): void {
  if (port.port !== undefined) checkPort(port.port, `${field}.port`);
  if (port.start_port !== undefined || port.end_port !== undefined) {
    checkPort(port.start_port, `${field}.start_port`);
    checkPort(port.end_port, `${field}.end_port`);
    const span = (port.end_port as number) - (port.start_port as number);
    if (span < 0) throw invalid(`${field}.start_port must not exceed end_port`);
    if (span >= MAX_PORT_RANGE) throw invalid(`${field}: a port range may span at most ${MAX_PORT_RANGE} ports`);
  }
  if (port.handlers !== undefined && !port.handlers.every((h) => HANDLERS.includes(h))) {
    throw invalid(`${field}.handlers may hold ${HANDLERS.map((h) => `"${h}"`).join(', ')}`);
  }
}

function checkConcurrency(value: NonNullable<ServiceInput['concurrency']>, field: string): void {
  if (value.type !== undefined && value.type !== '' && value.type !== 'connections' && value.type !== 'requests') {
    throw invalid(`${field}.type must be "connections" or "requests"`);
  }
  for (const key of ['soft_limit', 'hard_limit'] as const) {
    if (value[key] !== undefined && value[key] < 1) throw invalid(`${field}.${key} must be a positive whole number`);
  }
}

function checkMounts(mounts: NonNullable<MachineConfigInput['mounts']>): void {
  if (mounts.length > 1) throw invalid('config.mounts: a machine can mount only one volume');
  mounts.forEach((mount, i) => {
    if (!mount.volume) throw invalid(`config.mounts[${i}].volume is required`);
    if (!isGuestPath(mount.path)) throw invalid(`config.mounts[${i}].path must be an absolute path`);
  });
}

function checkFiles(files: NonNullable<MachineConfigInput['files']>): void {
  if (files.length > MAX_FILES) throw invalid(`config.files holds more than ${MAX_FILES} files`);
  files.forEach((file, i) => {
    const field = `config.files[${i}]`;
    if (!isGuestPath(file.guest_path)) throw invalid(`${field}.guest_path must be an absolute path`);
    const sources = (['raw_value', 'secret_name', 'image_config'] as const).filter((key) => file[key] !== undefined && file[key] !== '');
    if (sources.length !== 1) throw invalid(`${field} needs exactly one of raw_value or secret_name`);
    if (file.raw_value !== undefined && !BASE64.test(file.raw_value)) throw invalid(`${field}.raw_value must be base64`);
    if (file.mode !== undefined && file.mode > 0o7777) throw invalid(`${field}.mode must be permission bits (at most 0o7777)`);
  });
}

function normalizeRootfs(rootfs: NonNullable<MachineConfigInput['rootfs']>): MachineConfig['rootfs'] {
  const out: Record<string, unknown> = { ...rootfs };
  const persist = typeof rootfs.persist === 'number' ? PERSIST_NUMBERS[rootfs.persist]
    : rootfs.persist === '' || rootfs.persist === 'none' ? undefined : rootfs.persist;
  if (persist === undefined) delete out.persist;
  else out.persist = persist;
  return out as MachineConfig['rootfs'];
}

function checkDns(dns: NonNullable<MachineConfigInput['dns']>): void {
  // These become lines of the guest's /etc/resolv.conf.
  for (const key of ['nameservers', 'searches'] as const) {
    if (!(dns[key] ?? []).every((entry) => /^[\x21-\x7e]+$/.test(entry))) {
      throw invalid(`config.dns.${key} must hold addresses or names without spaces or control characters`);
    }
  }
}

function isGuestPath(path: string | undefined): boolean {
  return typeof path === 'string' && path.startsWith('/') && NO_NUL.test(path) && !/[\r\n]/.test(path);
}

export function checkPort(value: unknown, field: string): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) {
    throw invalid(`${field} must be a port number from 1 to 65535`);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
