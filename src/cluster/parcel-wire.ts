/** The list of a snapshot's files a move carries, as the source lists it and the target receives it. */
import { type Static, Type } from 'typebox';

export const ParcelFileSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z][a-z0-9._-]{0,39}$' }),
  bytes: Type.Integer({ minimum: 0, maximum: 2 ** 45 }),
  sha256: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
}, { additionalProperties: false });

export const ParcelListSchema = Type.Object({
  files: Type.Array(ParcelFileSchema, { minItems: 1, maxItems: 32 }),
}, { additionalProperties: false });

/** What the target is told when it opens its inbox: the files, and the machine's record as stored (a host may not read another's). */
export const IncomingSchema = Type.Object({
  files: ParcelListSchema.properties.files,
  machine: Type.String({ maxLength: 4 * 1024 * 1024 }),
}, { additionalProperties: false });

export type ParcelFile = Static<typeof ParcelFileSchema>;
export type ParcelList = Static<typeof ParcelListSchema>;
export type Incoming = Static<typeof IncomingSchema>;
