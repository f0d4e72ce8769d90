/**
 * E2B's sandbox operations on hangar's machines (e2b-compat.md §2): create (a
 * machine of the template, answered once its agent answers its health check),
 * get, list, kill (destroy), setTimeout, pause (suspend: the whole VM, memory
 * included), connect (resume or start, then the same wait; the timeout only
 * extended). Every sandbox is one of the key's org; another org's is not found.
 */
import { createApp } from '../control/apps.ts';
import { destroyMachine, destroyMachineIf, execMachine, startMachine, suspendMachine } from '../control/actions.ts';
import { forkMachine } from '../control/fork.ts';
import { createMachine, listMachines } from '../control/machines.ts';
import { loadMachine } from '../control/machine-writer.ts';
import { setMetadataValue, writeMetadata } from '../control/metadata.ts';
import type { ControlDeps } from '../control/ports.ts';
import { waitMachine } from '../control/waiting.ts';
import { HangarError, invalid } from '../domain/errors.ts';
import type { MachineRecord } from '../domain/machine.ts';
import { SANDBOX_AGENT_PATH } from '../guest/sandbox-agent.ts';
import { forkOne } from './fork-batch.ts';
import { refillSpares, spareMarkOf, takeSpare } from './spares.ts';
import { deleteTemplate, type KeyRecord, resolveTemplate, type TemplateRecord } from './records.ts';
import {
  baseConfig, forkingMark, isBaseOf, isOfLaterVersion, isSandboxApp, META, newAccessToken, sandboxApp, sandboxConfig, sandboxMetadata, type SandboxOptions, sandboxOf, type SandboxView, templateKey,
} from './sandbox-machine.ts';

/** How long a create or connect waits for the machine to start and its agent to answer. */
const READY_MS = 120_000;
/** E2B's longest sandbox life (24 h for its Pro tier). */
export const MAX_TIMEOUT_S = 24 * 3600;

export interface CreateInput extends Partial<SandboxOptions> {
  templateID: string;
}

const sandboxNotFound = (id: string) => new HangarError('not_found', `sandbox ${id} not found`);

async function ensureApp(deps: ControlDeps, org: string): Promise<string> {
  const name = sandboxApp(org);
  if (!(await deps.store.getApp(name))) {
    await createApp(deps, { name, org_slug: org }).catch((error: unknown) => {
      if (!(error instanceof HangarError && error.code === 'name_taken')) throw error;
    });
  }
  return name;
}

/** The machine of sandbox `id` in the key's org, or not found. */
export async function sandboxMachine(deps: ControlDeps, key: KeyRecord, id: string): Promise<{ machine: MachineRecord; sandbox: SandboxView }> {
  if (!/^[a-z0-9]{1,64}$/.test(id)) throw sandboxNotFound(id);
  const machine = await loadMachine(deps, sandboxApp(key.org), id).catch((error: unknown) => {
    throw error instanceof HangarError && error.code === 'not_found' ? sandboxNotFound(id) : error;
  });
  const sandbox = sandboxOf(machine);
  if (!sandbox) throw sandboxNotFound(id);
  return { machine, sandbox };
}

/** Waits until the machine runs (by `deadline`). */
async function untilStarted(deps: ControlDeps, appName: string, id: string, deadline: number): Promise<void> {
  // A wait is at most 60 s; many boots at once on a slow host take longer.
  for (;;) {
    const left = Math.ceil((deadline - deps.clock.now()) / 1000);
    try {
      await waitMachine(deps, appName, id, { state: 'started', timeout: String(Math.max(1, Math.min(60, left))) });
      return;
    } catch (error) {
      if (!(error instanceof HangarError && error.code === 'wait_timeout') || left <= 60) throw error;
    }
  }
}

/** Waits until the machine runs and its agent passes its health check. */
export async function untilReady(deps: ControlDeps, appName: string, id: string): Promise<void> {
  const deadline = deps.clock.now() + READY_MS;
  await untilStarted(deps, appName, id, deadline);
  for (;;) {
    const checks = (await deps.health?.checksOf([id]))?.get(id) ?? [];
    if (checks.some((check) => check.name === 'envd' && check.status === 'passing')) return;
    const machine = await loadMachine(deps, appName, id);
    if (machine.state !== 'started') throw new HangarError('launch_failed', `sandbox ${id} is ${machine.state}, not running`);
    if (deps.clock.now() > deadline) throw new HangarError('launch_failed', `sandbox ${id}'s agent did not answer within ${READY_MS / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function createSandbox(deps: ControlDeps, key: KeyRecord, input: CreateInput): Promise<SandboxView> {
  const template = await resolveTemplate(deps.store, key.org, input.templateID);
  if (!template) throw new HangarError('not_found', `template ${input.templateID} not found`);
  const options: SandboxOptions = {
    timeoutS: input.timeoutS ?? 300, metadata: input.metadata ?? {}, envVars: input.envVars ?? {},
    onTimeout: input.onTimeout ?? 'kill', autoResume: input.autoResume ?? false,
  };
  if (options.timeoutS < 1 || options.timeoutS > MAX_TIMEOUT_S) throw invalid(`timeout must be from 1 to ${MAX_TIMEOUT_S} seconds`);
  if (JSON.stringify(options.metadata).length > 4000) throw invalid('metadata must be under 4000 characters as JSON');
  const appName = await ensureApp(deps, key.org);
  if (template.snapshot) {
    const base = await baseOf(deps, appName, template);
    // A sandbox's snapshot keeps no spares: its base is what it keeps.
    const spare = template.sourceSandbox ? undefined : await takeSpare(deps, appName, template);
    if (!template.sourceSandbox) refillSpares(deps, appName, template, base.id);
    if (spare) {
      try {
        return await adopt(deps, appName, spare.id, template.templateID, options, options.envVars);
      } catch (error) {
        // A spare that could not be made a sandbox is gone (adopt destroyed it): a fork serves the create.
        deps.log.warn({ err: error, machineId: spare.id }, 'e2b: a spare could not be made a sandbox; forking instead');
      }
    }
    const child = await forkOne(deps, appName, base.id, template.templateID);
    return adopt(deps, appName, child.id, template.templateID, options, options.envVars);
  }
  const { machine } = await createMachine(deps, appName, { config: sandboxConfig(template, options, newAccessToken(), deps.clock.now()) });
  try {
    await untilReady(deps, appName, machine.id);
  } catch (error) {
    // A sandbox that never answered is not left running, nor charged to anyone's list.
    await destroyMachine(deps, appName, machine.id, { force: true, nonce: undefined }).catch(() => undefined);
    throw error;
  }
  return sandboxOf(await loadMachine(deps, appName, machine.id)) as SandboxView;
}

/** Bases being made, by app and template: creates at once share one. */
const basesMade = new Map<string, Promise<MachineRecord>>();

/**
 * The running base of a snapshot template in an org's app: booted once (and again
 * if it was stopped or destroyed), its agent answering; sandboxes fork from it.
 * A sandbox's snapshot has its base from the start, suspended: it is resumed.
 */
async function baseOf(deps: ControlDeps, appName: string, template: TemplateRecord): Promise<MachineRecord> {
  const key = templateKey(appName, template);
  const making = basesMade.get(key);
  if (making) return making;
  const made = (async () => {
    let found = await firstBase(deps, appName, template);
    // A snapshot's state is its base: booting a new one would lose it.
    if (!found && template.sourceSandbox) throw new HangarError('not_found', `snapshot ${template.templateID}'s machine is gone`);
    if (!found) {
      const mine = (await createMachine(deps, appName, { config: baseConfig(template, newAccessToken(), deps.clock.now()) })).machine;
      // Another replica may have booted one at once: the first made is kept by both.
      found = (await firstBase(deps, appName, template)) ?? mine;
      if (found.id !== mine.id) await destroyMachine(deps, appName, mine.id, { force: true, nonce: undefined }).catch(() => undefined);
    }
    if (found.state !== 'started') await startMachine(deps, appName, found.id, undefined).catch(() => undefined);
    await untilReady(deps, appName, found.id);
    return loadMachine(deps, appName, found.id);
  })();
  basesMade.set(key, made);
  try {
    return await made;
  } finally {
    basesMade.delete(key);
  }
}

/** The oldest base of this template (not of one deleted before it under its id) in the app, if any. */
async function firstBase(deps: ControlDeps, appName: string, template: TemplateRecord): Promise<MachineRecord | undefined> {
  const bases = (await listMachines(deps, appName, {})).map(({ machine }) => machine).filter((machine) => isBaseOf(machine, template.templateID, template.createdAt));
  return bases.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))[0];
}

/**
 * Makes a forked machine a sandbox of its own: E2B's metadata and lifetime, and a
 * token (and `envVars`, when given: a fork keeps its parent's) its agent is given
 * through its control socket (the agent's memory is the machine it was forked
 * from, token included). A child that cannot be made so is destroyed.
 */
async function adopt(deps: ControlDeps, appName: string, id: string, templateID: string, options: SandboxOptions, envVars: Record<string, string> | undefined): Promise<SandboxView> {
  try {
    // The fork's agent was running in its parent: its answer on the control socket
    // is its answer (the health check would say so only at its next interval).
    await untilStarted(deps, appName, id, deps.clock.now() + READY_MS);
    const token = newAccessToken();
    const told = await execMachine(deps, appName, id, { command: [SANDBOX_AGENT_PATH, '-init'], stdin: JSON.stringify({ accessToken: token, envVars }), timeout: 30 });
    if (told.exit_code !== 0) throw new HangarError('launch_failed', `sandbox ${id}'s agent did not take its token: ${told.stderr.trim()}`);
    await writeMetadata(deps, appName, id, 'replace', { metadata: { ...sandboxMetadata(templateID, options, deps.clock.now()), [META.token]: token } });
    return sandboxOf(await loadMachine(deps, appName, id)) as SandboxView;
  } catch (error) {
    await destroyMachine(deps, appName, id, { force: true, nonce: undefined }).catch(() => undefined);
    throw error;
  }
}

export async function getSandbox(deps: ControlDeps, key: KeyRecord, id: string): Promise<SandboxView> {
  return (await sandboxMachine(deps, key, id)).sandbox;
}

export interface ListQuery {
  states: Array<'running' | 'paused'>;
  metadata: Record<string, string>;
}

/** The org's sandboxes, oldest first, that are in `states` and hold every `metadata` pair. */
export async function listSandboxes(deps: ControlDeps, key: KeyRecord, query: ListQuery): Promise<SandboxView[]> {
  const appName = sandboxApp(key.org);
  if (!(await deps.store.getApp(appName))) return [];
  const listed = await listMachines(deps, appName, {});
  return listed
    .map(({ machine }) => sandboxOf(machine))
    .filter((sandbox): sandbox is SandboxView => sandbox !== null && query.states.includes(sandbox.state))
    .filter((sandbox) => Object.entries(query.metadata).every(([name, value]) => sandbox.metadata[name] === value))
    .sort((a, b) => a.startedAt - b.startedAt || a.sandboxID.localeCompare(b.sandboxID));
}

export async function killSandbox(deps: ControlDeps, key: KeyRecord, id: string): Promise<void> {
  const { machine } = await sandboxMachine(deps, key, id);
  await destroyMachine(deps, machine.appName, id, { force: true, nonce: undefined });
}

/** Sets the sandbox to end `timeoutS` from now, sooner or later than it would have. */
export async function setSandboxTimeout(deps: ControlDeps, key: KeyRecord, id: string, timeoutS: number): Promise<void> {
  if (!Number.isInteger(timeoutS) || timeoutS < 0 || timeoutS > MAX_TIMEOUT_S) throw invalid(`timeout must be from 0 to ${MAX_TIMEOUT_S} seconds`);
  const { machine } = await sandboxMachine(deps, key, id);
  await setMetadataValue(deps, machine.appName, id, META.endAt, String(deps.clock.now() + timeoutS * 1000));
}

/** Suspends a running sandbox and answers once it is; `already_exists` (409) when it is paused. */
export async function pauseSandbox(deps: ControlDeps, key: KeyRecord, id: string): Promise<void> {
  const { machine, sandbox } = await sandboxMachine(deps, key, id);
  if (sandbox.state === 'paused') throw new HangarError('already_exists', `sandbox ${id} is already paused`);
  await suspendAndWait(deps, machine.appName, id);
}

/**
 * Suspends a machine and answers once it is in one of `states`: a sandbox may end
 * stopped when it could not be suspended (a cold boot brings it back), a snapshot's
 * base may not (its memory is what it keeps).
 */
export async function suspendAndWait(deps: ControlDeps, app: string, id: string, states: Array<'suspended' | 'stopped'> = ['suspended', 'stopped']): Promise<void> {
  await suspendMachine(deps, app, id, undefined);
  await waitMachine(deps, app, id, { state: states, timeout: '60' });
}

/**
 * Resumes a paused sandbox (201) or finds it running (200), and extends its end to
 * `timeoutS` from now when that is later.
 */
export async function connectSandbox(deps: ControlDeps, key: KeyRecord, id: string, timeoutS: number | undefined): Promise<{ resumed: boolean; sandbox: SandboxView }> {
  const { machine, sandbox } = await sandboxMachine(deps, key, id);
  const resumed = sandbox.state === 'paused';
  if (resumed) await startMachine(deps, machine.appName, id, undefined);
  await untilReady(deps, machine.appName, id);
  if (timeoutS !== undefined) {
    const end = deps.clock.now() + timeoutS * 1000;
    if (end > sandbox.endAt) await setMetadataValue(deps, machine.appName, id, META.endAt, String(end));
  }
  return { resumed, sandbox: (await sandboxMachine(deps, key, id)).sandbox };
}

/**
 * Forks a running sandbox into `count`: each child starts from its parent's memory
 * (hangar's fork), with the parent's template and metadata, an agent token and
 * id of its own, and a life of `timeoutS` from now. One result per child, as E2B answers.
 */
export async function forkSandbox(deps: ControlDeps, key: KeyRecord, id: string, count: number, timeoutS: number | undefined): Promise<Array<{ sandbox?: SandboxView; error?: string }>> {
  const { machine, sandbox } = await sandboxMachine(deps, key, id);
  if (sandbox.state !== 'running') throw new HangarError('invalid_state', `sandbox ${id} is paused: connect to it before forking`);
  const children = await forkMachine(deps, machine.appName, id, { count }, forkingMark(sandbox.templateID));
  const life = timeoutS ?? Math.max(1, Math.round((sandbox.endAt - deps.clock.now()) / 1000));
  const options: SandboxOptions = { timeoutS: life, metadata: sandbox.metadata, envVars: {}, onTimeout: sandbox.onTimeout, autoResume: sandbox.autoResume };
  return Promise.all(children.map(async (child) => {
    try {
      return { sandbox: await adopt(deps, machine.appName, child.id, sandbox.templateID, options, undefined) };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }));
}

/** Deletes a template, and the bases and spares its snapshot kept running in every org (its sandboxes run on). */
export async function removeTemplate(deps: ControlDeps, id: string): Promise<void> {
  const deleted = await deleteTemplate(deps.store, id);
  // A record that did not read gives no version to go by: the reaper sweeps its machines as a gone template's.
  if (deleted) await destroyTemplateMachines(deps, deleted);
}

/**
 * Destroys the bases and spares of a deleted template. A template made again
 * under its id meanwhile keeps its own: they carry its later version.
 */
export async function destroyTemplateMachines(deps: ControlDeps, deleted: TemplateRecord): Promise<void> {
  const id = deleted.templateID;
  for (const machine of await e2bMachines(deps)) {
    if (isOfLaterVersion(machine, deleted.createdAt)) continue;
    // A spare only while it is one: a create that took it meanwhile keeps its sandbox.
    const spareMark = spareMarkOf(machine, id);
    if (spareMark) await destroyMachineIf(deps, machine.appName, machine.id, spareMark).catch(() => undefined);
    else if (isBaseOf(machine, id)) await destroyMachine(deps, machine.appName, machine.id, { force: true, nonce: undefined }).catch(() => undefined);
  }
}

/** Every machine of every org's sandbox app: sandboxes and template bases. */
export async function e2bMachines(deps: ControlDeps): Promise<MachineRecord[]> {
  const machines: MachineRecord[] = [];
  for (const app of await deps.store.listApps()) {
    if (isSandboxApp(app.name)) machines.push(...(await listMachines(deps, app.name, {})).map(({ machine }) => machine));
  }
  return machines;
}
