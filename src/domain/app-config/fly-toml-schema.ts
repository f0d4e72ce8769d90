/**
 * `fly.toml` as a schema: the keys flyctl's appconfig reads (superfly/flyctl
 * internal/appconfig), in the shapes it takes once its patches have run (see
 * fly-toml.ts, which applies them first). Objects keep keys they do not name: the
 * parser reports those as warnings, as `fly config validate --strict` does.
 */
import { type Static, type TSchema, Type } from 'typebox';

const open = { additionalProperties: true } as const;
const object = <P extends Record<string, TSchema>>(properties: P) => Type.Object(properties, open);
const optional = <T extends TSchema>(schema: T) => Type.Optional(schema);
const strings = () => Type.Array(Type.String());
const port = () => Type.Integer({ minimum: 0, maximum: 65535 });
const count = () => Type.Integer({ minimum: 0, maximum: 1_000_000 });

/** A Go duration ("10s", "1m30s"), as flyctl's fields take them once patched. */
export const DURATION = /^(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$/;
const Duration = Type.String({ pattern: DURATION.source, description: 'a duration such as "10s"' });

const Concurrency = object({
  type: optional(Type.Union([Type.Literal('connections'), Type.Literal('requests')])),
  hard_limit: optional(count()),
  soft_limit: optional(count()),
});

/** `true`/"stop", `false`/"off", or "suspend" (fly-go's MachineAutostop). */
const AutoStop = Type.Union([Type.Boolean(), Type.Literal('off'), Type.Literal('stop'), Type.Literal('suspend')]);

const CheckFields = {
  interval: optional(Duration),
  timeout: optional(Duration),
  grace_period: optional(Duration),
  method: optional(Type.String()),
  path: optional(Type.String()),
  protocol: optional(Type.Union([Type.Literal('http'), Type.Literal('https')])),
  tls_skip_verify: optional(Type.Boolean()),
  tls_server_name: optional(Type.String()),
  headers: optional(Type.Record(Type.String(), Type.String())),
};

const TopLevelCheck = object({
  type: Type.Union([Type.Literal('http'), Type.Literal('tcp')], { description: 'http or tcp' }),
  port: optional(port()),
  processes: optional(strings()),
  ...CheckFields,
});

const HttpOptions = object({
  compress: optional(Type.Boolean()),
  h2_backend: optional(Type.Boolean()),
  idle_timeout: optional(count()),
  headers_read_timeout: optional(count()),
  response: optional(object({ headers: optional(Type.Record(Type.String(), Type.Unknown())), pristine: optional(Type.Boolean()) })),
});
const TlsOptions = object({ alpn: optional(strings()), versions: optional(strings()), default_self_signed: optional(Type.Boolean()) });

const ServiceFields = {
  internal_port: port(),
  auto_stop_machines: optional(AutoStop),
  auto_start_machines: optional(Type.Boolean()),
  min_machines_running: optional(count()),
  processes: optional(strings()),
  concurrency: optional(Concurrency),
};

const HttpService = object({
  ...ServiceFields,
  force_https: optional(Type.Boolean()),
  http_options: optional(HttpOptions),
  tls_options: optional(TlsOptions),
  checks: optional(Type.Array(object(CheckFields))),
});

const Service = object({
  ...ServiceFields,
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  ports: optional(Type.Array(object({
    port: optional(port()),
    start_port: optional(port()),
    end_port: optional(port()),
    handlers: optional(strings()),
    force_https: optional(Type.Boolean()),
    http_options: optional(HttpOptions),
    tls_options: optional(TlsOptions),
  }))),
  tcp_checks: optional(Type.Array(object({ interval: optional(Duration), timeout: optional(Duration), grace_period: optional(Duration) }))),
  http_checks: optional(Type.Array(object(CheckFields))),
});

const Vm = object({
  size: optional(Type.String()),
  memory: optional(Type.String()),
  cpu_kind: optional(Type.Union([Type.Literal('shared'), Type.Literal('performance')])),
  cpus: optional(Type.Integer({ minimum: 1, maximum: 128 })),
  memory_mb: optional(Type.Integer({ minimum: 1, maximum: 1_048_576 })),
  kernel_args: optional(strings()),
  processes: optional(strings()),
});

const Mount = object({
  source: Type.String({ minLength: 1 }),
  destination: Type.String({ pattern: '^/' }),
  initial_size: optional(Type.String()),
  processes: optional(strings()),
});

const File = object({
  guest_path: Type.String({ pattern: '^/' }),
  local_path: optional(Type.String()),
  secret_name: optional(Type.String()),
  raw_value: optional(Type.String()),
  processes: optional(strings()),
});

const Restart = object({
  policy: Type.Union([Type.Literal('always'), Type.Literal('never'), Type.Literal('on-failure')]),
  retries: optional(count()),
  processes: optional(strings()),
});

export const Strategy = Type.Union([Type.Literal('rolling'), Type.Literal('immediate'), Type.Literal('canary'), Type.Literal('bluegreen')], {
  description: 'rolling, immediate, canary or bluegreen',
});
export type Strategy = Static<typeof Strategy>;

const Deploy = object({
  strategy: optional(Strategy),
  max_unavailable: optional(Type.Number({ exclusiveMinimum: 0 })),
  release_command: optional(Type.String()),
  release_command_timeout: optional(Duration),
  wait_timeout: optional(Duration),
});

export const FlyTomlSchema = object({
  app: optional(Type.String()),
  primary_region: optional(Type.String()),
  kill_signal: optional(Type.String()),
  kill_timeout: optional(Duration),
  swap_size_mb: optional(count()),
  build: optional(object({ image: optional(Type.String()) })),
  deploy: optional(Deploy),
  env: optional(Type.Record(Type.String(), Type.String())),
  processes: optional(Type.Record(Type.String(), Type.String())),
  http_service: optional(HttpService),
  services: optional(Type.Array(Service)),
  checks: optional(Type.Record(Type.String(), TopLevelCheck)),
  vm: optional(Type.Array(Vm)),
  mounts: optional(Type.Array(Mount)),
  files: optional(Type.Array(File)),
  restart: optional(Type.Array(Restart)),
  statics: optional(Type.Array(object({ guest_path: optional(Type.String()), url_prefix: optional(Type.String()) }))),
  experimental: optional(object({ cmd: optional(strings()), entrypoint: optional(strings()), exec: optional(strings()) })),
});

export type FlyToml = Static<typeof FlyTomlSchema>;
