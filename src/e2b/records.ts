/**
 * The E2B front's records: API keys (`e2b_` and 40 hex digits, as the SDK's key
 * check wants; kept only as a SHA-256, each belonging to an org) and templates
 * (any OCI image, with its resources, user, workdir and start command). Each
 * document read back from the store is checked, and skipped when it does not hold.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { HangarError, invalid } from '../domain/errors.ts';
import { parseImageRef } from '../domain/image-ref.ts';
import type { Store } from '../store/store.ts';
import { DuplicateError } from '../store/errors.ts';

/** An org's slug, as keys and snapshots carry it. */
const ORG_SLUG = '^[a-z0-9][a-z0-9-]{0,62}$';

export const KeyRecord = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{12}$' }),
  hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  name: Type.String({ maxLength: 100 }),
  org: Type.String({ pattern: ORG_SLUG }),
  createdAt: Type.Integer(),
});
export type KeyRecord = Static<typeof KeyRecord>;

export const TEMPLATE_ID = '^[a-z0-9][a-z0-9_-]{0,62}$';
export const SNAPSHOT_NAME = '^[a-z0-9][a-z0-9_.-]{0,62}$';

export const TemplateRecord = Type.Object({
  templateID: Type.String({ pattern: TEMPLATE_ID }),
  image: Type.String({ minLength: 1, maxLength: 1024 }),
  cpuCount: Type.Integer({ minimum: 1, maximum: 64 }),
  memoryMB: Type.Integer({ minimum: 128, maximum: 262144 }),
  user: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_-]{0,31}$' })),
  workdir: Type.Optional(Type.String({ pattern: '^/', maxLength: 1024 })),
  startCmd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  /** Sandboxes are forked from a running one of the template (booted once, per org), not booted. */
  snapshot: Type.Optional(Type.Boolean()),
  /** A sandbox's snapshot (E2B's `createSnapshot`): only its org may use it, and its state is its base machine. */
  org: Type.Optional(Type.String({ pattern: ORG_SLUG })),
  /** A snapshot's name in its org (E2B's `name`), when it was given one. */
  name: Type.Optional(Type.String({ pattern: SNAPSHOT_NAME })),
  /** The sandbox a snapshot was taken of. */
  sourceSandbox: Type.Optional(Type.String({ pattern: '^[a-z0-9]{1,64}$' })),
  createdAt: Type.Integer(),
});
export type TemplateRecord = Static<typeof TemplateRecord>;

const keyCheck = Compile(KeyRecord);
const templateCheck = Compile(TemplateRecord);

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');

/** A new key: the key itself (shown once) and its record. */
export function mintKey(name: string, org: string, now: number): { key: string; record: KeyRecord } {
  const key = `e2b_${randomBytes(20).toString('hex')}`;
  const hash = hashOf(key);
  const record = { id: hash.slice(0, 12), hash, name, org, createdAt: now };
  if (!keyCheck.Check(record)) throw invalid(`a key's org is a slug of lowercase letters, digits and dashes, and its name at most 100 characters`);
  return { key, record };
}

export async function createKey(store: Store, name: string, org: string, now: number): Promise<{ key: string; record: KeyRecord }> {
  const minted = mintKey(name, org, now);
  await store.insertE2bRecord('key', minted.record.hash, minted.record);
  return minted;
}

/** The key's record, or null for a key that is not one (or was revoked). */
export async function findKey(store: Store, key: string): Promise<KeyRecord | null> {
  if (!/^e2b_[0-9a-f]{40}$/.test(key)) return null;
  const hash = hashOf(key);
  const record = await store.getE2bRecord('key', hash);
  return keyCheck.Check(record) && record.hash === hash ? record : null;
}

export async function listKeys(store: Store): Promise<KeyRecord[]> {
  return (await store.listE2bRecords('key')).filter((record): record is KeyRecord => keyCheck.Check(record));
}

export async function revokeKey(store: Store, id: string): Promise<void> {
  const found = (await listKeys(store)).find((record) => record.id === id);
  if (!found || !(await store.deleteE2bRecord('key', found.hash))) throw new HangarError('not_found', `no key ${id}`);
}

export interface TemplateInput {
  templateID: string;
  image: string;
  cpuCount?: number;
  memoryMB?: number;
  user?: string;
  workdir?: string;
  startCmd?: string;
  snapshot?: boolean;
  org?: string;
  name?: string;
  sourceSandbox?: string;
}

export async function createTemplate(store: Store, input: TemplateInput, now: number): Promise<TemplateRecord> {
  const record = { cpuCount: 2, memoryMB: 512, ...input, createdAt: now };
  if (!templateCheck.Check(record)) {
    const [first] = templateCheck.Errors(record);
    throw invalid(`template ${first ? `${first.instancePath.slice(1) || 'fields'}: ${first.message}` : 'is not valid'}`);
  }
  parseImageRef(record.image);
  try {
    await store.insertE2bRecord('template', record.templateID, record);
  } catch (error) {
    if (error instanceof DuplicateError) throw new HangarError('already_exists', `template ${record.templateID} already exists`);
    throw error;
  }
  return record;
}

export async function findTemplate(store: Store, id: string): Promise<TemplateRecord | null> {
  if (!new RegExp(TEMPLATE_ID).test(id)) return null;
  const record = await store.getE2bRecord('template', id);
  return templateCheck.Check(record) && record.templateID === id ? record : null;
}

/**
 * The template `ref` names for an org: a template's id, or one of the org's
 * snapshots by id or name, with E2B's optional `team/` prefix (the org) and
 * `:tag` suffix (hangar keeps one version: the newest).
 */
export async function resolveTemplate(store: Store, org: string, ref: string): Promise<TemplateRecord | null> {
  const match = /^(?:([a-z0-9][a-z0-9-]{0,62})\/)?([a-z0-9][a-z0-9_.-]{0,62})(?::[a-z0-9_.-]{1,64})?$/.exec(ref);
  if (!match) return null;
  const [, team, id] = match as unknown as [string, string | undefined, string];
  if (team !== undefined && team !== org) return null;
  const byId = await findTemplate(store, id);
  if (byId && (byId.org === undefined || byId.org === org)) return byId;
  const named = (await listTemplates(store)).filter((record) => record.org === org && record.name === id);
  return named.sort((a, b) => b.createdAt - a.createdAt)[0] ?? null;
}

export async function listTemplates(store: Store): Promise<TemplateRecord[]> {
  return (await store.listE2bRecords('template')).filter((record): record is TemplateRecord => templateCheck.Check(record));
}

/** Deletes template `id`; answers the record it deleted (null for a stored record that no longer reads as one: deleted all the same). */
export async function deleteTemplate(store: Store, id: string): Promise<TemplateRecord | null> {
  const record = await findTemplate(store, id);
  if (!(await store.deleteE2bRecord('template', id))) throw new HangarError('not_found', `no template ${id}`);
  return record;
}
