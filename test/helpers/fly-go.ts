/**
 * fly-go (superfly/fly-go, the Go library under flyctl) as a test double: the
 * headers its flaps client sends, and the Go types it decodes answers into,
 * written out from machine_types.go so that a test can tell whether Go's
 * encoding/json would accept an answer. Go's rules, as applied here: JSON `null`
 * decodes into anything (it leaves the field alone); a key matches a field by its
 * JSON name, else case-insensitively; keys no field names are ignored; a value of
 * the wrong JSON type fails the whole decode (flyctl then shows "failed decoding
 * response").
 */
import type { TestHangar } from './hangar.ts';
import { TOKEN } from './hangar.ts';

export type GoType =
  | { kind: 'string' | 'bool' | 'float' | 'time' | 'any' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'slice' | 'map'; of: GoType }
  | { kind: 'struct'; name: string; fields: Record<string, GoType> }
  /** A type with its own UnmarshalJSON: `accepts` says what it takes. */
  | { kind: 'custom'; name: string; accepts: (value: unknown) => boolean };

const str: GoType = { kind: 'string' };
const bool: GoType = { kind: 'bool' };
const float: GoType = { kind: 'float' };
const time: GoType = { kind: 'time' };
const any: GoType = { kind: 'any' };
const intOf = (min: number, max: number): GoType => ({ kind: 'int', min, max });
const int = intOf(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER); // int, int64
const int32 = intOf(-(2 ** 31), 2 ** 31 - 1);
const uint32 = intOf(0, 2 ** 32 - 1);
const uint64 = intOf(0, Number.MAX_SAFE_INTEGER);
const slice = (of: GoType): GoType => ({ kind: 'slice', of });
const map = (of: GoType): GoType => ({ kind: 'map', of });
const struct = (name: string, fields: Record<string, GoType>): GoType => ({ kind: 'struct', name, fields });
const strings = slice(str);

const GO_DURATION = /^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$/;
/** fly.Duration: a Go duration string, or a number of nanoseconds. */
const duration: GoType = { kind: 'custom', name: 'fly.Duration', accepts: (v) => typeof v === 'number' || (typeof v === 'string' && GO_DURATION.test(v)) };
/** fly.MachineAutostop: a boolean, or "off", "stop", "suspend". */
const autostop: GoType = { kind: 'custom', name: 'fly.MachineAutostop', accepts: (v) => typeof v === 'boolean' || v === 'off' || v === 'stop' || v === 'suspend' };
/** fly.MachinePersistRootfs: a word, or the protobuf enum's number. */
const persist: GoType = {
  kind: 'custom',
  name: 'fly.MachinePersistRootfs',
  accepts: (v) => ['', 'none', 'never', 'restart', 'always'].includes(v as string) || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 3),
};

const checkFields = {
  port: int, type: str, interval: duration, timeout: duration, grace_period: duration, method: str, path: str, protocol: str,
  tls_skip_verify: bool, tls_server_name: str, headers: slice(struct('MachineHTTPHeader', { name: str, values: strings })),
};

const MachinePort = struct('MachinePort', {
  port: int, start_port: int, end_port: int, handlers: strings, force_https: bool,
  tls_options: struct('TLSOptions', { alpn: strings, versions: strings, default_self_signed: bool }),
  http_options: struct('HTTPOptions', {
    compress: bool, response: struct('HTTPResponseOptions', { headers: map(any), pristine: bool }), h2_backend: bool,
    idle_timeout: uint32, headers_read_timeout: uint32,
    replay_cache: slice(struct('ReplayCache', { path_prefix: str, ttl_seconds: int, type: str, name: str, allow_bypass: bool })),
  }),
  proxy_proto_options: struct('ProxyProtoOptions', { version: str }),
});

export const MachineConfig = struct('MachineConfig', {
  env: map(str),
  init: struct('MachineInit', { exec: strings, entrypoint: strings, cmd: strings, tty: bool, swap_size_mb: int, kernel_args: strings }),
  guest: struct('MachineGuest', {
    cpu_kind: str, cpus: int, memory_mb: int, max_memory_mb: int, gpus: int, gpu_kind: str, host_dedication_id: str,
    persist_rootfs: persist, kernel_args: strings,
  }),
  metadata: map(str),
  mounts: slice(struct('MachineMount', {
    encrypted: bool, path: str, size_gb: int, volume: str, name: str, extend_threshold_percent: int, add_size_gb: int, size_gb_limit: int,
  })),
  services: slice(struct('MachineService', {
    protocol: str, internal_port: int, autostop, autostart: bool, min_machines_running: int, ports: slice(MachinePort),
    checks: slice(struct('MachineServiceCheck', checkFields)),
    concurrency: struct('MachineServiceConcurrency', { type: str, hard_limit: int, soft_limit: int }),
    force_instance_key: str, force_instance_description: str,
  })),
  metrics: struct('MachineMetrics', { port: int, path: str, https: bool }),
  checks: map(struct('MachineCheck', { ...checkFields, kind: str })),
  statics: slice(struct('Static', { guest_path: str, url_prefix: str, tigris_bucket: str, index_document: str })),
  image: str,
  files: slice(struct('File', { guest_path: str, raw_value: str, secret_name: str, image_config: str, mode: uint32 })),
  schedule: str,
  auto_destroy: bool,
  restart: struct('MachineRestart', { policy: str, max_retries: int }),
  dns: struct('DNSConfig', {
    skip_registration: bool, nameservers: strings, searches: strings,
    options: slice(struct('dnsOption', { name: str, value: str })),
    dns_forward_rules: slice(struct('dnsForwardRule', { basename: str, addr: str })), hostname: str, hostname_fqdn: str,
  }),
  processes: slice(struct('MachineProcess', {
    exec: strings, entrypoint: strings, cmd: strings, user: str, env: map(str),
    secrets: slice(struct('MachineSecret', { env_var: str, name: str })), ignore_app_secrets: bool,
    env_from: slice(struct('EnvFrom', { env_var: str, field_ref: str })),
  })),
  standbys: strings,
  stop_config: struct('StopConfig', { timeout: duration, signal: str }),
  containers: slice(any),
  volumes: slice(any),
  rootfs: struct('MachineRootfs', { persist, size_gb: uint64 }),
  cache_drive: struct('MachineCacheDrive', { size_mb: uint64 }),
  spot: struct('MachineSpot', { max_price_fraction: float }),
  size: str,
  disable_machine_autostart: bool,
});

const MachineExitEvent = struct('MachineExitEvent', {
  exit_code: int, guest_exit_code: int, guest_signal: int, oom_killed: bool, requested_stop: bool, restarting: bool, signal: int, exited_at: time,
});

export const MachineEvent = struct('MachineEvent', {
  type: str,
  status: str,
  request: struct('MachineRequest', { exit_event: MachineExitEvent, MonitorEvent: struct('MachineMonitorEvent', { exit_event: MachineExitEvent }), restart_count: int }),
  source: str,
  timestamp: int,
});

export const Machine = struct('Machine', {
  id: str, name: str, state: str, region: str,
  image_ref: struct('MachineImageRef', { registry: str, repository: str, tag: str, digest: str, labels: map(str) }),
  instance_id: str, version: str, private_ip: str, created_at: str, updated_at: str,
  config: MachineConfig,
  events: slice(MachineEvent),
  checks: slice(struct('MachineCheckStatus', { name: str, status: str, output: str, updated_at: time })),
  nonce: str, host_status: str, cordoned: bool,
  containers: slice(struct('ContainerStatus', { name: str, state: str })),
  incomplete_config: MachineConfig,
});

export const MachineLease = struct('MachineLease', {
  status: str,
  data: struct('MachineLeaseData', { nonce: str, expires_at: int, owner: str, version: str }),
  message: str,
  code: str,
});

export const MachineStartResponse = struct('MachineStartResponse', { message: str, status: str, previous_state: str });
export const MachineExecResponse = struct('MachineExecResponse', { exit_code: int32, stdout: str, stderr: str });
export const MachinePsResponse = slice(struct('ProcessStat', {
  pid: int32, stime: uint64, rtime: uint64, command: str, directory: str, cpu: uint64, rss: uint64,
  listen_sockets: slice(struct('ListenSocket', { proto: str, address: str })),
}));
export const Metadata = map(str);
export const Machines = slice(Machine);

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Where Go's encoding/json would refuse `value` as `type`: one line per error (empty: it decodes). */
export function goDecodeErrors(value: unknown, type: GoType, path = '$'): string[] {
  if (value === null) return [];
  const wrong = (want: string) => [`${path}: Go cannot decode ${JSON.stringify(value)?.slice(0, 60)} into ${want}`];
  switch (type.kind) {
    case 'any': return [];
    case 'string': return typeof value === 'string' ? [] : wrong('string');
    case 'bool': return typeof value === 'boolean' ? [] : wrong('bool');
    case 'float': return typeof value === 'number' ? [] : wrong('float64');
    case 'int': return Number.isInteger(value) && (value as number) >= type.min && (value as number) <= type.max ? [] : wrong(`an integer in [${type.min}, ${type.max}]`);
    case 'time': return typeof value === 'string' && RFC3339.test(value) ? [] : wrong('time.Time (RFC 3339)');
    case 'custom': return type.accepts(value) ? [] : wrong(type.name);
    case 'slice':
      if (!Array.isArray(value)) return wrong('a slice');
      return value.flatMap((item, i) => goDecodeErrors(item, type.of, `${path}[${i}]`));
    case 'map':
      if (typeof value !== 'object' || Array.isArray(value)) return wrong('a map');
      return Object.entries(value).flatMap(([key, item]) => goDecodeErrors(item, type.of, `${path}.${key}`));
    case 'struct': {
      if (typeof value !== 'object' || Array.isArray(value)) return wrong(type.name);
      return Object.entries(value).flatMap(([key, item]) => {
        const field = type.fields[key] ?? Object.entries(type.fields).find(([name]) => name.toLowerCase() === key.toLowerCase())?.[1];
        return field ? goDecodeErrors(item, field, `${path}.${key}`) : [];
      });
    }
  }
}

export interface FlyGoRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path after `/v1` with its query string, as flaps builds it. */
  path: string;
  /** The exact bytes of json.Marshal(in); absent when flaps passes a nil body. */
  body?: string;
  /** Sent as `fly-machine-lease-nonce` where fly-go sends one. */
  nonce?: string;
}

export interface FlyGoReply {
  status: number;
  text: string;
}

/**
 * Sends a request as flaps' NewRequest does: `/v1` + path, `Content-Type` only with
 * a body, `Authorization: FlyV1 …` (a macaroon token), fly-go's User-Agent, and
 * Go's transport's `Accept-Encoding: gzip`.
 */
export async function flyGo(t: TestHangar, request: FlyGoRequest): Promise<FlyGoReply> {
  const headers: Record<string, string> = {
    authorization: `FlyV1 ${TOKEN}`,
    'user-agent': 'fly-go/unknown',
    'accept-encoding': 'gzip',
  };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  if (request.nonce !== undefined) headers['fly-machine-lease-nonce'] = request.nonce;
  const reply = await t.hangar.app.inject({ method: request.method, url: `/v1${request.path}`, headers, payload: request.body });
  return { status: reply.statusCode, text: reply.body };
}
