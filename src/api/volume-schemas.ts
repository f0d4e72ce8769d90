/**
 * Request schemas of `/v1/apps/{app}/volumes`. fly-go's CreateVolumeRequest and
 * UpdateVolumeRequest hold pointers without `omitempty`, so every field the user
 * left unset arrives as an explicit `null`: each optional field takes its type or
 * null, and null means "not given". A value of the wrong type is still refused.
 */
import { type TSchema, Type } from 'typebox';

const open = { additionalProperties: true };

/** A field fly-go may send as null when unset. */
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

export const VolumeParams = Type.Object({ app_name: Type.String(), volume_id: Type.String() });

export const CreateVolumeBody = Type.Object({
  name: Type.String(),
  region: nullable(Type.String()),
  size_gb: nullable(Type.Integer()),
  encrypted: nullable(Type.Boolean()),
  require_unique_zone: nullable(Type.Boolean()),
  unique_zone_app_wide: nullable(Type.Boolean()),
  snapshot_retention: nullable(Type.Integer()),
  auto_backup_enabled: nullable(Type.Boolean()),
  fstype: nullable(Type.String({ description: '"ext4" (the default); hangar has no "raw" volumes' })),
  snapshot_id: nullable(Type.String({ description: 'restore from this snapshot' })),
  source_volume_id: nullable(Type.String({ description: 'fork this volume of the same app' })),
  compute: nullable(Type.Object({}, { ...open, description: 'the guest of the machine the volume is for (fly.MachineGuest); placement hint, unused on one host' })),
  compute_image: nullable(Type.String()),
}, open);

export const UpdateVolumeBody = Type.Object({
  auto_backup_enabled: nullable(Type.Boolean()),
  snapshot_retention: nullable(Type.Integer()),
}, open);

export const ExtendVolumeBody = Type.Object({ size_gb: Type.Integer() }, open);
