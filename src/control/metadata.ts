/**
 * Machine metadata: the `config.metadata` map, read and changed key by key or in
 * bulk. Writes are not lease-guarded: fly-go's SetMetadata and DeleteMetadata send
 * no nonce, and flyctl's bluegreen deploy tags machines it holds leases on.
 */
import { HangarError, invalid } from '../domain/errors.ts';
import { loadMachine, writeMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';

const KEY = /^[A-Za-z0-9_.\-/]{1,128}$/;
const MAX_VALUE = 4096;

export function checkMetadataKey(key: string): void {
  if (!KEY.test(key)) throw invalid(`metadata key "${key}" must be 1-128 letters, digits, "_", ".", "-" or "/"`);
}

function checkValue(key: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(`metadata value for "${key}" must be a string`);
  if (value.length > MAX_VALUE) throw invalid(`metadata value for "${key}" is longer than ${MAX_VALUE} characters`);
  return value;
}

export async function getMetadata(deps: ControlDeps, appName: string, id: string): Promise<Record<string, string>> {
  const machine = await loadMachine(deps, appName, id);
  return machine.config.metadata ?? {};
}

export async function getMetadataValue(deps: ControlDeps, appName: string, id: string, key: string): Promise<string> {
  const metadata = await getMetadata(deps, appName, id);
  const value = metadata[key];
  if (value === undefined) throw new HangarError('not_found', `metadata key "${key}" not found on machine ${id}`);
  return value;
}

/** Applies `change` to the current metadata; `change` returns the new map. */
async function changeMetadata(deps: ControlDeps, appName: string, id: string, change: (current: Record<string, string>) => Record<string, string>): Promise<void> {
  await writeMachine(deps, appName, id, {}, (machine, ctx) => {
    if (machine.state === 'destroyed') throw new HangarError('invalid_state', `machine ${id} is destroyed`);
    const metadata = change({ ...(machine.config.metadata ?? {}) });
    return { machine: { ...machine, config: { ...machine.config, metadata }, updatedAt: ctx.now }, events: [], effects: [] };
  });
}

export function setMetadataValue(deps: ControlDeps, appName: string, id: string, key: string, value: unknown): Promise<void> {
  checkMetadataKey(key);
  const checked = checkValue(key, value);
  return changeMetadata(deps, appName, id, (current) => ({ ...current, [key]: checked }));
}

export function deleteMetadataValue(deps: ControlDeps, appName: string, id: string, key: string): Promise<void> {
  checkMetadataKey(key);
  return changeMetadata(deps, appName, id, (current) => {
    if (!(key in current)) throw new HangarError('not_found', `metadata key "${key}" not found on machine ${id}`);
    delete current[key];
    return current;
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
    checkMetadataKey(key);
    if (!(mode === 'merge' && value === null)) checkValue(key, value);
  }
  if (body.machine_version !== undefined && body.machine_version !== '') {
    const machine = await loadMachine(deps, appName, id);
    if (machine.version !== body.machine_version) {
      throw new HangarError('version_mismatch', `machine ${id}: machine_version ${String(body.machine_version)} does not match the machine's version ${machine.version}`);
    }
  }
  return changeMetadata(deps, appName, id, (current) => {
    const next = mode === 'replace' ? {} : current;
    for (const [key, value] of entries) {
      if (value === null) delete next[key];
      else next[key] = value as string;
    }
    return next;
  });
}
