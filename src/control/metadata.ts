/**
 * Machine metadata: the `config.metadata` map, read and changed key by key or in
 * bulk. Writes are not lease-guarded: fly-go's SetMetadata and DeleteMetadata send
 * no nonce, and flyctl's bluegreen deploy tags machines it holds leases on.
 */
import { HangarError, invalid } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { loadMachine, writeMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';

const KEY = /^[A-Za-z0-9_.\-/]{1,128}$/;
const MAX_VALUE = 4096;

export function checkMetadataKey(key: string): void {
  if (!KEY.test(key)) throw invalid(`metadata key "${key}" must be 1-128 letters, digits, "_", ".", "-" or "/"`);
}

/**
 * A key that may be written. "__proto__" may not: hangar refuses it in every JSON
 * body, so a machine holding it could not be sent back in an update.
 */
function checkWritableKey(key: string): void {
  checkMetadataKey(key);
  if (key === '__proto__') throw invalid('metadata key "__proto__" is not accepted: hangar refuses it in every JSON body, so a machine holding it could not be updated');
}

function checkValue(key: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(`metadata value for "${key}" must be a string`);
  if (value.length > MAX_VALUE) throw invalid(`metadata value for "${key}" is longer than ${MAX_VALUE} characters`);
  return value;
}

/**
 * The metadata as a Map: keys are the user's, so none may be looked up on a plain
 * object, where "constructor" or "toString" would find what every object inherits.
 */
function metadataOf(machine: MachineRecord): Map<string, string> {
  return new Map(Object.entries(machine.config.metadata ?? {}));
}

function notFound(key: string, id: string): HangarError {
  return new HangarError('not_found', `metadata key "${key}" not found on machine ${id}`);
}

export async function getMetadata(deps: ControlDeps, appName: string, id: string): Promise<Record<string, string>> {
  return Object.fromEntries(metadataOf(await loadMachine(deps, appName, id)));
}

export async function getMetadataValue(deps: ControlDeps, appName: string, id: string, key: string): Promise<string> {
  const value = metadataOf(await loadMachine(deps, appName, id)).get(key);
  if (value === undefined) throw notFound(key, id);
  return value;
}

/** Applies `change` to the current metadata (a copy, changed in place). */
async function changeMetadata(deps: ControlDeps, appName: string, id: string, change: (metadata: Map<string, string>) => void): Promise<void> {
  await writeMachine(deps, appName, id, {}, (machine, ctx) => {
    if (machine.state === 'destroyed') throw new HangarError('invalid_state', `machine ${id} is destroyed`);
    const metadata = metadataOf(machine);
    change(metadata);
    return { machine: { ...machine, config: { ...machine.config, metadata: Object.fromEntries(metadata) }, updatedAt: ctx.now }, events: [], effects: [] };
  });
}

export function setMetadataValue(deps: ControlDeps, appName: string, id: string, key: string, value: unknown): Promise<void> {
  checkWritableKey(key);
  const checked = checkValue(key, value);
  return changeMetadata(deps, appName, id, (metadata) => metadata.set(key, checked));
}

/**
 * Replaces a machine's metadata with `next`, only while its `key` holds `value`
 * (and, when `started`, only while it is started): a claim. Of two at once, one
 * wins; the other gets a conflict.
 */
export async function replaceMetadataIf(deps: ControlDeps, appName: string, id: string, held: { key: string; value: string; started?: boolean }, next: Record<string, string>): Promise<void> {
  await writeMachine(deps, appName, id, {}, (machine, ctx) => {
    const metadata = metadataOf(machine);
    const gone = machine.state === 'destroyed' || machine.state === 'destroying';
    if (gone || metadata.get(held.key) !== held.value || (held.started && machine.state !== 'started')) {
      throw new HangarError('conflict', `machine ${id} is no longer what was claimed (${held.key} ${held.value}${held.started ? ', started' : ''})`);
    }
    return { machine: { ...machine, config: { ...machine.config, metadata: { ...next } }, updatedAt: ctx.now }, events: [], effects: [] };
  });
}

/** Deletes a key; "__proto__" too, should a machine hold one (it could be written before it was refused). */
export function deleteMetadataValue(deps: ControlDeps, appName: string, id: string, key: string): Promise<void> {
  checkMetadataKey(key);
  return changeMetadata(deps, appName, id, (metadata) => {
    if (!metadata.delete(key)) throw notFound(key, id);
  });
}

export interface BulkMetadataInput {
  metadata?: unknown;
  machine_version?: unknown;
}

/**
 * Bulk writes. PUT replaces the whole map; PATCH merges, and a key whose value is
 * null is deleted. With `machine_version`, the write is refused (412) unless the
 * machine is still at that version.
 */
export async function writeMetadata(deps: ControlDeps, appName: string, id: string, mode: 'replace' | 'merge', body: BulkMetadataInput): Promise<void> {
  if (typeof body.metadata !== 'object' || body.metadata === null || Array.isArray(body.metadata)) {
    throw invalid('metadata must be an object of string values: {"metadata": {"key": "value"}}');
  }
  const entries = Object.entries(body.metadata as Record<string, unknown>);
  for (const [key, value] of entries) {
    checkWritableKey(key);
    if (!(mode === 'merge' && value === null)) checkValue(key, value);
  }
  if (body.machine_version !== undefined && body.machine_version !== '') {
    const machine = await loadMachine(deps, appName, id);
    if (machine.version !== body.machine_version) {
      throw new HangarError('version_mismatch', `machine ${id}: machine_version ${String(body.machine_version)} does not match the machine's version ${machine.version}`);
    }
  }
  return changeMetadata(deps, appName, id, (metadata) => {
    if (mode === 'replace') metadata.clear();
    for (const [key, value] of entries) {
      if (value === null) metadata.delete(key);
      else metadata.set(key, value as string);
    }
  });
}
