/**
 * The machine config as a schema: Fly's `fly.MachineConfig`, field for field as
 * fly-go (the Go library under flyctl) decodes it. Every type here is one fly-go
 * can decode, so a config that passes cannot break a Fly client's machine list.
 * It validates requests, documents the API (OpenAPI) and types the stored config.
 * Meaning (sizes, durations, signals, limits) is checked by `config.ts`.
 *
 * Objects keep fields they do not name (Go ignores them), except fields whose
 * name differs from a known one only by case, which Go would decode into the known
 * field (see `go-json.ts`).
 */
import { type Static, type TSchema, Type } from 'typebox';

const open = { additionalProperties: true } as const;

/** Go's `int` (int64), bounded to what a JavaScript number holds exactly. */
const int = (options: { minimum?: number; maximum?: number } = {}) =>
  Type.Integer({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, ...options });
const uint = (maximum = Number.MAX_SAFE_INTEGER) => Type.Integer({ minimum: 0, maximum });
const UINT32_MAX = 0xffff_ffff;
const strings = () => Type.Array(Type.String());
const stringMap = () => Type.Record(Type.String(), Type.String());
const object = <P extends Record<string, TSchema>>(properties: P, description?: string) =>
  Type.Object(properties, { ...open, ...(description ? { description } : {}) });
const optional = <T extends TSchema>(schema: T) => Type.Optional(schema);

/** fly-go's `Duration`: a Go duration string ("15s") or a number of nanoseconds. */
export const GO_DURATION = /^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$/;
const Duration = Type.Union([
  Type.String({ pattern: GO_DURATION.source, description: 'a Go duration such as "15s"' }),
  Type.Number({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, description: 'nanoseconds' }),
]);

/** `persist` and the deprecated `guest.persist_rootfs`: a word, or the protobuf enum's number. */
const PersistRootfs = Type.Union([
  Type.Union([Type.Literal(''), Type.Literal('none'), Type.Literal('never'), Type.Literal('restart'), Type.Literal('always')]),
  Type.Integer({ minimum: 0, maximum: 3 }),
]);

/** `false`/`true`, or `"off"`/`"stop"`/`"suspend"`; hangar answers `false`, `true` or `"suspend"`. */
const Autostop = Type.Union([Type.Boolean(), Type.Union([Type.Literal('off'), Type.Literal('stop'), Type.Literal('suspend')])]);

const HttpHeader = object({ name: optional(Type.String()), values: optional(strings()) });

const checkFields = {
  port: optional(int()),
  type: optional(Type.String()),
  interval: optional(Duration),
  timeout: optional(Duration),
  grace_period: optional(Duration),
  method: optional(Type.String()),
  path: optional(Type.String()),
  protocol: optional(Type.String()),
  tls_skip_verify: optional(Type.Boolean()),
  tls_server_name: optional(Type.String()),
  headers: optional(Type.Array(HttpHeader)),
};

export const MachineCheckSchema = object({ ...checkFields, kind: optional(Type.String()) }, 'A top-level health check');
export const ServiceCheckSchema = object(checkFields, 'A service health check');

const PortSchema = object({
  port: optional(int()),
  start_port: optional(int()),
  end_port: optional(int()),
  handlers: optional(strings()),
  force_https: optional(Type.Boolean()),
  tls_options: optional(object({ alpn: optional(strings()), versions: optional(strings()), default_self_signed: optional(Type.Boolean()) })),
  http_options: optional(object({
    compress: optional(Type.Boolean()),
    response: optional(object({ headers: optional(Type.Record(Type.String(), Type.Unknown())), pristine: optional(Type.Boolean()) })),
    h2_backend: optional(Type.Boolean()),
    idle_timeout: optional(uint(UINT32_MAX)),
    headers_read_timeout: optional(uint(UINT32_MAX)),
    replay_cache: optional(Type.Array(object({
      path_prefix: optional(Type.String()),
      ttl_seconds: optional(int()),
      type: optional(Type.String()),
      name: optional(Type.String()),
      allow_bypass: optional(Type.Boolean()),
    }))),
  })),
  proxy_proto_options: optional(object({ version: optional(Type.String()) })),
});

export const ServiceSchema = object({
  protocol: optional(Type.String()),
  internal_port: optional(int()),
  autostop: optional(Autostop),
  autostart: optional(Type.Boolean()),
  min_machines_running: optional(int()),
  ports: optional(Type.Array(PortSchema)),
  checks: optional(Type.Array(ServiceCheckSchema)),
  concurrency: optional(object({ type: optional(Type.String()), hard_limit: optional(int()), soft_limit: optional(int()) })),
  force_instance_key: optional(Type.String()),
  force_instance_description: optional(Type.String()),
}, 'A service the edge proxy routes to');

export const GuestSchema = object({
  cpu_kind: optional(Type.String()),
  cpus: optional(int()),
  memory_mb: optional(int()),
  max_memory_mb: optional(int()),
  gpus: optional(int()),
  gpu_kind: optional(Type.String()),
  host_dedication_id: optional(Type.String()),
  persist_rootfs: optional(PersistRootfs),
  kernel_args: optional(strings()),
  required_host_features: optional(strings()),
}, 'The VM: CPUs and memory');

export const InitSchema = object({
  exec: optional(strings()),
  entrypoint: optional(strings()),
  cmd: optional(strings()),
  tty: optional(Type.Boolean()),
  swap_size_mb: optional(int()),
  kernel_args: optional(strings()),
}, 'What the machine runs, overriding the image');

const FileSchema = object({
  guest_path: optional(Type.String()),
  raw_value: optional(Type.String()),
  secret_name: optional(Type.String()),
  image_config: optional(Type.String()),
  mode: optional(uint(UINT32_MAX)),
});

const MountSchema = object({
  volume: optional(Type.String()),
  path: optional(Type.String()),
  name: optional(Type.String()),
  size_gb: optional(int()),
  encrypted: optional(Type.Boolean()),
  extend_threshold_percent: optional(int()),
  add_size_gb: optional(int()),
  add_size_percent: optional(int()),
  min_add_size_gb: optional(int()),
  size_gb_limit: optional(int()),
});

const ProcessSchema = object({
  exec: optional(strings()),
  entrypoint: optional(strings()),
  cmd: optional(strings()),
  user: optional(Type.String()),
  env: optional(stringMap()),
  secrets: optional(Type.Array(object({ env_var: optional(Type.String()), name: optional(Type.String()) }))),
  ignore_app_secrets: optional(Type.Boolean()),
  env_from: optional(Type.Array(object({ env_var: optional(Type.String()), field_ref: optional(Type.String()) }))),
});

const DnsSchema = object({
  skip_registration: optional(Type.Boolean()),
  nameservers: optional(strings()),
  searches: optional(strings()),
  options: optional(Type.Array(object({ name: optional(Type.String()), value: optional(Type.String()) }))),
  dns_forward_rules: optional(Type.Array(object({ basename: optional(Type.String()), addr: optional(Type.String()) }))),
  hostname: optional(Type.String()),
  hostname_fqdn: optional(Type.String()),
});

export const MachineConfigSchema = object({
  image: Type.String({ description: 'The image to run, e.g. "registry.example/app:1.2"' }),
  env: optional(stringMap()),
  init: optional(InitSchema),
  guest: optional(GuestSchema),
  metadata: optional(stringMap()),
  mounts: optional(Type.Array(MountSchema)),
  services: optional(Type.Array(ServiceSchema)),
  metrics: optional(object({ port: optional(int()), path: optional(Type.String()), https: optional(Type.Boolean()) })),
  checks: optional(Type.Record(Type.String(), MachineCheckSchema)),
  statics: optional(Type.Array(object({
    guest_path: optional(Type.String()),
    url_prefix: optional(Type.String()),
    tigris_bucket: optional(Type.String()),
    index_document: optional(Type.String()),
  }))),
  files: optional(Type.Array(FileSchema)),
  schedule: optional(Type.String()),
  auto_destroy: optional(Type.Boolean()),
  restart: optional(object({ policy: optional(Type.String()), max_retries: optional(int()) })),
  dns: optional(DnsSchema),
  processes: optional(Type.Array(ProcessSchema)),
  standbys: optional(strings()),
  stop_config: optional(object({ timeout: optional(Duration), signal: optional(Type.String()) })),
  containers: optional(Type.Array(Type.Unknown(), { description: 'not supported by hangar' })),
  volumes: optional(Type.Array(Type.Unknown(), { description: 'not supported by hangar' })),
  rootfs: optional(object({ persist: optional(PersistRootfs), size_gb: optional(uint()) })),
  cache_drive: optional(object({ size_mb: optional(uint()) })),
  spot: optional(object({ max_price_fraction: optional(Type.Number()) })),
  size: optional(Type.String({ description: 'deprecated: a named size such as "shared-cpu-1x"' })),
  disable_machine_autostart: optional(Type.Boolean()),
}, 'The machine config, as Fly\'s fly.MachineConfig');

/** A config as clients may send it (the schema's types; meaning not yet checked). */
export type MachineConfigInput = Static<typeof MachineConfigSchema>;
export type ServiceInput = Static<typeof ServiceSchema>;
export type MachineCheckInput = Static<typeof MachineCheckSchema>;
export type GuestInput = Static<typeof GuestSchema>;
export type MountInput = Static<typeof MountSchema>;
export type FileInput = Static<typeof FileSchema>;
