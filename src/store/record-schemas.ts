/**
 * The shapes stored documents must have to be read back: one schema per record
 * kind other than machines (whose check is `machineDocProblem`). A row may hold
 * anything (a hand edit, a torn write, an older or newer hangar), so every read
 * checks its document against these before handing it on.
 *
 * Objects keep fields they do not name (a newer hangar may have added some). A
 * stored config is only required to be an object: a config today's rules refuse
 * is still a version of its machine (see config-audit.ts).
 */
import { Type } from 'typebox';
import type { MachineConfig } from '../domain/config.ts';
import type { ImageRef } from '../domain/image-ref.ts';
import { type FlyToml, Strategy } from '../domain/app-config/fly-toml-schema.ts';
import { RELEASE_STATUSES } from '../domain/releases.ts';

const open = { additionalProperties: true } as const;
const time = () => Type.Number();

/** A VolumeRecord (domain/volume.ts). */
export const VolumeDoc = Type.Object({
  id: Type.String(),
  appName: Type.String(),
  name: Type.String(),
  region: Type.String(),
  sizeGb: Type.Integer({ minimum: 1 }),
  state: Type.Union([Type.Literal('creating'), Type.Literal('created'), Type.Literal('destroyed')]),
  attachedMachineId: Type.Union([Type.String(), Type.Null()]),
  hostId: Type.Optional(Type.String()),
  encrypted: Type.Boolean(),
  autoBackupEnabled: Type.Boolean(),
  snapshotRetention: Type.Integer(),
  createdAt: time(),
  updatedAt: Type.Optional(time()),
}, open);

/** A VolumeSnapshotRecord (domain/volume.ts). */
export const SnapshotDoc = Type.Object({
  id: Type.String(),
  volumeId: Type.String(),
  appName: Type.String(),
  storedBytes: Type.Number({ minimum: 0 }),
  volumeSizeGb: Type.Integer({ minimum: 1 }),
  createdAt: time(),
  expiresAt: Type.Union([time(), Type.Null()]),
}, open);

/** A MachineVersion (domain/machine.ts): its config need only be an object. */
export const VersionDoc = Type.Object({
  machineId: Type.String(),
  version: Type.String(),
  config: Type.Unsafe<MachineConfig>(Type.Object({}, open)),
  imageRef: Type.Unsafe<ImageRef>(Type.Object({
    registry: Type.String(), repository: Type.String(), tag: Type.String(), digest: Type.String(),
  }, open)),
  createdAt: time(),
}, open);

/** A MachineEvent (domain/machine.ts). */
export const EventDoc = Type.Object({
  id: Type.String(),
  machineId: Type.String(),
  type: Type.String(),
  status: Type.String(),
  source: Type.Union([Type.Literal('user'), Type.Literal('flyd')]),
  timestamp: time(),
  request: Type.Record(Type.String(), Type.Unknown()),
}, open);

/** A ReleaseRecord (domain/releases.ts): its config need only be an object (a deploy of it checks it again). */
export const ReleaseDoc = Type.Object({
  id: Type.String(),
  appName: Type.String(),
  version: Type.Integer({ minimum: 1 }),
  image: Type.String(),
  strategy: Strategy,
  status: Type.Union(RELEASE_STATUSES.map((status) => Type.Literal(status))),
  reason: Type.String(),
  description: Type.String(),
  configDigest: Type.String(),
  config: Type.Unsafe<FlyToml>(Type.Object({}, open)),
  files: Type.Record(Type.String(), Type.String()),
  createdAt: time(),
  updatedAt: time(),
}, open);
