/**
 * Request schemas of `/v1/platform` and `/v1/apps/{app}/ip_assignments`, as fly-go
 * sends them: its pointers (compute, weights) arrive as null when unset, its plain
 * fields as zero values ("" and 0).
 */
import { type TSchema, Type } from 'typebox';

const open = { additionalProperties: true };
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

export const PlacementsBody = Type.Object({
  compute: nullable(Type.Object({
    cpu_kind: Type.Optional(Type.String()),
    cpus: Type.Optional(Type.Integer({ minimum: 0 })),
    memory_mb: Type.Optional(Type.Integer({ minimum: 0 })),
  }, { ...open, description: 'the machine to place (fly.MachineGuest); default performance-1x' })),
  region: nullable(Type.String({ description: 'comma-separated region codes; "any" or empty: the default region' })),
  count: nullable(Type.Integer({ minimum: 0, description: 'machines to place; 0: how many fit' })),
  volume_name: nullable(Type.String()),
  volume_size_bytes: nullable(Type.Integer({ minimum: 0 })),
  weights: nullable(Type.Record(Type.String(), Type.Integer())),
  org_slug: nullable(Type.String()),
}, open);

export const IpParams = Type.Object({ app_name: Type.String(), ip: Type.String() });

export const AssignIpBody = Type.Object({
  type: Type.String({ description: 'v4, shared_v4 or v6 (all answer the edge proxy\'s address); private_v6 and egress types are not served' }),
  region: nullable(Type.String()),
  org_slug: nullable(Type.String()),
  network: nullable(Type.String()),
  service_name: nullable(Type.String()),
}, open);
