/**
 * The machine API's answers as schemas: Fly's `fly.Machine`, `MachineEvent`,
 * `CheckStatus` and lease shapes, typed as fly-go decodes them. They document the
 * API (OpenAPI) and type the presenters (present.ts), so an answer that drifts
 * from them does not compile; tests check real answers against them. The machine
 * config inside is the same schema requests are validated with.
 */
import { type Static, Type } from 'typebox';
import { MachineConfigSchema } from '../domain/config-schema.ts';

const open = { additionalProperties: true } as const;

export const ImageRefSchema = Type.Object({
  registry: Type.String(),
  repository: Type.String(),
  tag: Type.String(),
  digest: Type.String(),
  labels: Type.Record(Type.String(), Type.String()),
}, open);

export const MachineEventSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.String(),
  source: Type.Union([Type.Literal('user'), Type.Literal('flyd')]),
  /** Unix milliseconds. */
  timestamp: Type.Integer(),
  request: Type.Record(Type.String(), Type.Unknown()),
}, open);

export const CheckStatusSchema = Type.Object({
  name: Type.String(),
  status: Type.String(),
  output: Type.String(),
  updated_at: Type.String({ description: 'RFC 3339' }),
}, open);

export const MachineSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.String(),
  region: Type.String(),
  instance_id: Type.String(),
  version: Type.String(),
  private_ip: Type.String(),
  image_ref: ImageRefSchema,
  created_at: Type.String({ description: 'RFC 3339' }),
  updated_at: Type.String({ description: 'RFC 3339' }),
  cordoned: Type.Boolean(),
  host_status: Type.Union([Type.Literal('ok'), Type.Literal('unknown'), Type.Literal('unreachable')]),
  host_id: Type.Optional(Type.String({ description: 'hangar: the host the machine is placed on' })),
  private_ipv4: Type.Optional(Type.String({
    description: 'hangar: the IPv4 address allocated to the machine on its host (absent for machines created before addresses were allocated, whose number gives theirs)',
  })),
  config: Type.Optional(MachineConfigSchema),
  events: Type.Optional(Type.Array(MachineEventSchema)),
  checks: Type.Optional(Type.Array(CheckStatusSchema)),
  nonce: Type.Optional(Type.String({ description: 'only in the answer to a create with lease_ttl' })),
  lease: Type.Optional(Type.Object({ owner: Type.String(), description: Type.String(), expires_at: Type.Integer() })),
}, { ...open, description: 'A machine, as Fly\'s fly.Machine' });

export const MachineVersionSchema = Type.Object({
  version: Type.String(),
  user_config: MachineConfigSchema,
}, open);

export const LeaseSchema = Type.Object({
  status: Type.Literal('success'),
  data: Type.Object({
    nonce: Type.String(),
    /** Unix seconds. */
    expires_at: Type.Integer(),
    owner: Type.String(),
    description: Type.String(),
    /** The machine's version (instance_id) when the lease was taken or refreshed. */
    version: Type.String(),
  }, open),
}, open);

export type MachineJson = Static<typeof MachineSchema>;
export type MachineEventJson = Static<typeof MachineEventSchema>;
export type MachineVersionJson = Static<typeof MachineVersionSchema>;
export type LeaseJson = Static<typeof LeaseSchema>;

export const HostSchema = Type.Object({
  id: Type.String(),
  region: Type.String(),
  address: Type.String({ description: 'where replicas reach its agent; empty for a host inside the API process' }),
  status: Type.Union([Type.Literal('up'), Type.Literal('cordoned'), Type.Literal('silent'), Type.Literal('lost'), Type.Literal('forgotten')], {
    description: 'silent: no heartbeat within --host-lost-after; lost: declared lost by a replica (fenced until it registers again); forgotten: written off',
  }),
  instance_id: Type.String({ description: 'the process instance (kept in its data directory) that holds the host' }),
  cordoned: Type.Boolean(),
  any_region: Type.Boolean({ description: 'a host on its own serves any region code (regions are labels there)' }),
  capacity: Type.Object({
    cpus: Type.Union([Type.Integer(), Type.Null()], { description: 'null: not limited' }),
    memory_mb: Type.Union([Type.Integer(), Type.Null()], { description: 'null: not limited' }),
    disk_bytes: Type.Number(),
  }),
  reserved: Type.Object({ cpus: Type.Integer(), memory_mb: Type.Integer() }, { description: 'what its machines not destroyed reserve' }),
  machines: Type.Integer(),
  ipv4_range: Type.Optional(Type.String({ description: 'the range its machines\' IPv4 addresses are allocated from, one per machine not destroyed' })),
  host_number: Type.Optional(Type.String({ description: 'hex, the group after an app\'s /48 in its machines\' 6PN addresses (fdaa:0:<app>:<host>::/64); in a cluster the database gives each host its own' })),
  epoch: Type.Integer(),
  heartbeat_at: Type.String({ description: 'RFC 3339' }),
  registered_at: Type.String({ description: 'RFC 3339' }),
}, { ...open, description: 'hangar: a host machines are placed on' });
export type HostJson = Static<typeof HostSchema>;

/** What a drain did: the machines moved, and those left with the reason. */
export const DrainReportSchema = Type.Object({
  moved: Type.Array(Type.Object({ id: Type.String(), app: Type.String(), to: Type.String() })),
  left: Type.Array(Type.Object({ id: Type.String(), app: Type.String(), state: Type.String(), reason: Type.String() })),
});
export type DrainReportJson = Static<typeof DrainReportSchema>;

