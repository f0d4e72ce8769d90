/**
 * A sandbox's snapshots (E2B's `createSnapshot`, `listSnapshots`, `deleteSnapshot`),
 * usable as templates. A snapshot is a fork of the sandbox (its memory and disk as
 * they were; the sandbox pauses only while its VM is saved and runs on), kept
 * suspended as the base of a template of the sandbox's org. Creating a sandbox of
 * it resumes that base and forks it, as a `--snapshot` template's base is forked.
 * It outlives the sandbox, until it is deleted.
 */
import { randomBytes } from 'node:crypto';
import { destroyMachine, startMachine, suspendMachine } from '../control/actions.ts';
import { forkMachine } from '../control/fork.ts';
import { writeMetadata } from '../control/metadata.ts';
import type { ControlDeps } from '../control/ports.ts';
import { waitMachine } from '../control/waiting.ts';
import { HangarError, invalid } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { createTemplate, type KeyRecord, listTemplates, resolveTemplate, SNAPSHOT_NAME, type TemplateRecord } from './records.ts';
import { forkingMark, META } from './sandbox-machine.ts';
import { removeTemplate, sandboxMachine, suspendAndWait, untilReady } from './sandboxes.ts';

/** What E2B says of a snapshot: its id (usable as a `templateID`) and full names. */
export interface SnapshotView {
  snapshotID: string;
  names: string[];
}

export function snapshotView(record: TemplateRecord): SnapshotView {
  const name = record.name === undefined ? null : `${record.org}/${record.name}:default`;
  return { snapshotID: name ?? `${record.templateID}:default`, names: name ? [name] : [] };
}

/**
 * Takes a snapshot of sandbox `id` (a paused one is resumed for it, and paused
 * again). A name the org has already given a snapshot moves to this one, and the
 * old one is deleted, as E2B assigns a new build to the existing template.
 */
export async function createSnapshot(deps: ControlDeps, key: KeyRecord, id: string, name: string | undefined): Promise<SnapshotView> {
  if (name !== undefined && !new RegExp(SNAPSHOT_NAME).test(name)) throw invalid('a snapshot name is lowercase letters, digits, dots, dashes and underscores, at most 63');
  const { machine, sandbox } = await sandboxMachine(deps, key, id);
  const replaced = name === undefined ? null : await resolveTemplate(deps.store, key.org, name);
  const app = machine.appName;
  const paused = sandbox.state === 'paused';
  if (paused) {
    await startMachine(deps, app, id, undefined);
    await untilReady(deps, app, id);
  }
  let record: TemplateRecord;
  try {
    const templateID = `snap-${randomBytes(8).toString('hex')}`;
    await frozenBase(deps, machine, templateID);
    record = await createTemplate(deps.store, { ...templateOf(machine), templateID, snapshot: true, org: key.org, name, sourceSandbox: id }, deps.clock.now());
  } finally {
    if (paused) await suspendMachine(deps, app, id, undefined).catch(() => undefined);
  }
  if (replaced?.sourceSandbox) await removeTemplate(deps, replaced.templateID);
  return snapshotView(record);
}

/** Forks the sandbox into the snapshot's base and suspends it; a base that cannot be made so is destroyed. */
async function frozenBase(deps: ControlDeps, machine: MachineRecord, templateID: string): Promise<void> {
  const [base] = await forkMachine(deps, machine.appName, machine.id, { count: 1 }, forkingMark(templateID));
  const baseId = (base as MachineRecord).id;
  try {
    await writeMetadata(deps, machine.appName, baseId, 'replace', { metadata: { [META.base]: templateID } });
    await waitMachine(deps, machine.appName, baseId, { state: 'started', timeout: '60' });
    await suspendAndWait(deps, machine.appName, baseId, ['suspended']);
  } catch (error) {
    await destroyMachine(deps, machine.appName, baseId, { force: true, nonce: undefined }).catch(() => undefined);
    throw error;
  }
}

/** The template fields a sandbox's machine runs with (its template may be gone since). */
function templateOf(machine: MachineRecord): Omit<TemplateRecord, 'templateID' | 'createdAt'> {
  const env = machine.config.env ?? {};
  const text = (name: string) => (typeof env[name] === 'string' && env[name] !== '' ? env[name] : undefined);
  return {
    image: machine.config.image,
    cpuCount: machine.config.guest?.cpus ?? 1,
    memoryMB: machine.config.guest?.memory_mb ?? 256,
    user: text('HANGAR_ENVD_USER'),
    workdir: text('HANGAR_ENVD_WORKDIR'),
    startCmd: text('HANGAR_ENVD_START'),
  };
}

export interface SnapshotQuery {
  sandboxID?: string;
  name?: string;
}

/** The org's snapshots, oldest first: of one sandbox, or by name or id, when asked. */
export async function listSnapshots(deps: ControlDeps, key: KeyRecord, query: SnapshotQuery): Promise<TemplateRecord[]> {
  const named = query.name === undefined ? undefined : await resolveTemplate(deps.store, key.org, query.name);
  const candidates = query.name === undefined ? await listTemplates(deps.store) : named ? [named] : [];
  return candidates
    .filter((record) => record.org === key.org && record.sourceSandbox !== undefined)
    .filter((record) => query.sandboxID === undefined || record.sourceSandbox === query.sandboxID)
    .sort((a, b) => a.createdAt - b.createdAt || a.templateID.localeCompare(b.templateID));
}

/** Deletes one of the org's snapshots (E2B's `DELETE /templates/{id}`) and its base. */
export async function deleteSnapshot(deps: ControlDeps, key: KeyRecord, ref: string): Promise<void> {
  const record = await resolveTemplate(deps.store, key.org, ref);
  if (!record) throw new HangarError('not_found', `template ${ref} not found`);
  if (record.org !== key.org) throw new HangarError('forbidden', `template ${ref} is the server's: its operator removes it (hangar e2b templates delete)`);
  await removeTemplate(deps, record.templateID);
}
