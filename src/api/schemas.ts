/**
 * Request schemas: they validate requests, feed the served OpenAPI document and
 * type the handlers at once. They check shapes; the domain checks meaning
 * (guest sizes, durations, signals), so every rule has one home.
 */
import { type TSchema, Type } from 'typebox';
import { MachineConfigSchema } from '../domain/config-schema.ts';

const open = { additionalProperties: true };

export const AppParams = Type.Object({ app_name: Type.String({ description: 'Fly App Name' }) });
export const MachineParams = Type.Object({
  app_name: Type.String({ description: 'Fly App Name' }),
  machine_id: Type.String({ description: 'Machine ID' }),
});
export const MetadataKeyParams = Type.Object({
  app_name: Type.String(),
  machine_id: Type.String(),
  key: Type.String(),
});

export const CreateAppBody = Type.Object({
  name: Type.String(),
  org_slug: Type.Optional(Type.String()),
  network: Type.Optional(Type.String()),
}, open);

/**
 * A schema as Go clients send it: any optional field may be `null` (Go's encoder
 * writes nil pointers and slices so), which means "not given".
 */
function acceptingNulls<T extends TSchema>(schema: T): T {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (typeof node !== 'object' || node === null) return node;
    const out: Record<string, unknown> = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, visit(value)]));
    const properties = out.properties as Record<string, unknown> | undefined;
    if (out.type === 'object' && properties) {
      const required = new Set((out.required as string[] | undefined) ?? []);
      out.properties = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, required.has(key) ? value : { anyOf: [value, { type: 'null' }] }]));
    }
    return out;
  };
  return visit(schema) as T;
}

/** The machine config a create or update may send; `config.ts` checks its meaning. */
export const MachineConfig = acceptingNulls(MachineConfigSchema);

export const CreateMachineBody = Type.Object({
  config: MachineConfig,
  name: Type.Optional(Type.String()),
  region: Type.Optional(Type.String()),
  skip_launch: Type.Optional(Type.Boolean()),
  skip_service_registration: Type.Optional(Type.Boolean()),
  lease_ttl: Type.Optional(Type.Integer({ minimum: 0 })),
  /** fly-go: the least secrets version the machine must get (flyctl keeps the last one it set). */
  min_secrets_version: Type.Optional(Type.Integer({ minimum: 0 })),
  /** fly-go sends false; true (boot without the app's secrets) is refused: config.processes[].ignore_app_secrets says it. */
  skip_secrets: Type.Optional(Type.Boolean()),
}, open);

export const UpdateMachineBody = Type.Object({
  config: MachineConfig,
  current_version: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  region: Type.Optional(Type.String()),
  skip_launch: Type.Optional(Type.Boolean()),
  /** fly-go: the least secrets version the machine must get (flyctl keeps the last one it set). */
  min_secrets_version: Type.Optional(Type.Integer({ minimum: 0 })),
  /** fly-go sends false; true (boot without the app's secrets) is refused: config.processes[].ignore_app_secrets says it. */
  skip_secrets: Type.Optional(Type.Boolean()),
}, open);

export const StopBody = Type.Union([
  Type.Object({
    signal: Type.Optional(Type.Union([Type.String(), Type.Integer()])),
    timeout: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  }, open),
  Type.Null(),
]);

export const RestartQuery = Type.Object({
  timeout: Type.Optional(Type.String()),
  signal: Type.Optional(Type.String()),
  force_stop: Type.Optional(Type.Boolean()),
});

export const SignalBody = Type.Object({ signal: Type.Union([Type.String(), Type.Integer()]) }, open);

export const ExecBody = Type.Object({
  command: Type.Optional(Type.Array(Type.String())),
  cmd: Type.Optional(Type.String()),
  stdin: Type.Optional(Type.String()),
  timeout: Type.Optional(Type.Integer()),
}, open);

export const DestroyQuery = Type.Object({
  force: Type.Optional(Type.Boolean()),
  kill: Type.Optional(Type.Boolean()),
});

export const ListMachinesQuery = Type.Object({
  include_deleted: Type.Optional(Type.Boolean()),
  region: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  summary: Type.Optional(Type.Boolean()),
  include_leases: Type.Optional(Type.Boolean()),
}, open);

export const ShowMachineQuery = Type.Object({
  include_leases: Type.Optional(Type.Boolean()),
  version: Type.Optional(Type.String()),
  instance_id: Type.Optional(Type.String()),
});

export const WaitQuery = Type.Object({
  state: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  timeout: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  instance_id: Type.Optional(Type.String()),
  from_event_id: Type.Optional(Type.String()),
});

export const EventsQuery = Type.Object({ limit: Type.Optional(Type.String()) });

export const LeaseBody = Type.Union([
  Type.Object({
    ttl: Type.Optional(Type.Integer()),
    description: Type.Optional(Type.String()),
  }, open),
  Type.Null(),
]);
export const LeaseQuery = Type.Object({ ttl: Type.Optional(Type.String()) });

export const MetadataValueBody = Type.Object({ value: Type.String() }, open);
export const BulkMetadataBody = Type.Object({
  // Values are strings, or null to delete with PATCH. Checked by the control plane:
  // a string|null union here would let type coercion turn null into "".
  metadata: Type.Unknown({ description: 'An object of string values (null deletes a key with PATCH)' }),
  machine_version: Type.Optional(Type.String()),
}, open);

export const ListAppsQuery = Type.Object({ org_slug: Type.Optional(Type.String()), app_role: Type.Optional(Type.String()) });

export const MemoryLimitBody = Type.Object({ limit_mb: Type.Integer() }, open);
export const ForkBody = Type.Union([Type.Object({ count: Type.Optional(Type.Integer()) }, open), Type.Null()]);
/** Where a machine moves: a host (its id) or a region, one of the two. */
export const MoveBody = Type.Object({
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  region: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  /** A started machine is suspended first and resumes on the new host with its memory. */
  suspend: Type.Optional(Type.Boolean()),
  /** A started machine is stopped first (if not suspended). */
  stop: Type.Optional(Type.Boolean()),
}, open);

export const ReclaimMemoryBody = Type.Object({ amount_mb: Type.Integer() }, open);

export const OrgParams = Type.Object({ org_slug: Type.String() });
/** The query of the organization-wide listings (machines, volumes), as Fly's spec names it. */
export const OrgListQuery = Type.Object({
  include_deleted: Type.Optional(Type.Boolean()),
  region: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  summary: Type.Optional(Type.Boolean()),
  updated_after: Type.Optional(Type.String()),
  cursor: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 1 })),
});

export const PullImageBody = Type.Object({
  image: Type.String({ minLength: 1, description: 'an image reference, or oci:/dir[:tag] / docker-archive:/file.tar[:name:tag]' }),
});

export const LogsQuery = Type.Object({
  tail: Type.Optional(Type.String()),
  follow: Type.Optional(Type.Boolean()),
});

export const SecretParams = Type.Object({ app_name: Type.String(), secret_name: Type.String() });
/** fly-go's ListAppSecrets: `version` (the least secrets version to read: every read here is the latest) and `show_secrets` (never honoured: values do not leave). */
export const SecretsQuery = Type.Object({
  version: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
  show_secrets: Type.Optional(Type.String()),
});
export const UpdateSecretsBody = Type.Object({
  // Strings, or null to unset: checked by the control plane (a string|null union here would let coercion turn null into "").
  values: Type.Unknown({ description: 'Secret names to values; a null value unsets the secret' }),
}, open);
export const SetSecretBody = Type.Object({ value: Type.Unknown({ description: 'The secret\'s value' }) }, open);
