/** What users do to a machine: start, stop, restart, suspend, update, destroy, signal, cordon, exec, ps. */
import { normalizeConfig } from '../domain/config.ts';
import { errorMessage, HangarError, invalid } from '../domain/errors.ts';
import { withoutHostPaths } from '../domain/host-paths.ts';
import { isLocalImage, parseImageRef } from '../domain/image-ref.ts';
import {
  decideDestroy, decideRestart, decideStart, decideStop, decideSuspend, decideUpdate, decideUpdateRefused, type StopOptions, targetOf,
} from '../domain/lifecycle/actions.ts';
import { checkLease } from '../domain/lease.ts';
import type { MachineRecord, MachineVersion } from '../domain/machine.ts';
import { type ExecResult, type MemoryInfo, MIN_MEMORY_LIMIT_MB, type ProcessInfo } from '../domain/guest-ops.ts';
import { parseSignal } from '../domain/signals.ts';
import type { MachineState } from '../domain/states.ts';
import { checkGuestImage } from './guest-images.ts';
import { pinned } from './image-pins.ts';
import { loadMachine, writeMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';
import { attachForUpdate, releaseVolumes, volumesLetGo, withMountDetails } from './volumes.ts';
import { checkStandbys } from './standbys.ts';

type Nonce = string | undefined;

export async function startMachine(deps: ControlDeps, appName: string, id: string, nonce: Nonce): Promise<{ previousState: MachineState }> {
  const { before } = await writeMachine(deps, appName, id, { lease: { nonce } }, (m, ctx) => decideStart(m, ctx));
  return { previousState: before.state };
}

/**
 * A start the platform makes: the edge proxy waking a machine for a request. A
 * lease binds API clients (a deploy holds every machine's), not the proxy: a deploy
 * keeps the machines it changes out of routing instead.
 */
export async function wakeMachine(deps: ControlDeps, appName: string, id: string): Promise<{ previousState: MachineState }> {
  const { before } = await writeMachine(deps, appName, id, {}, (m, ctx) => decideStart(m, ctx));
  return { previousState: before.state };
}

export async function stopMachine(deps: ControlDeps, appName: string, id: string, options: StopOptions, nonce: Nonce): Promise<void> {
  await writeMachine(deps, appName, id, { lease: { nonce } }, (m, ctx) => decideStop(m, options, ctx));
}

export async function restartMachine(deps: ControlDeps, appName: string, id: string, options: StopOptions, nonce: Nonce): Promise<void> {
  await writeMachine(deps, appName, id, { lease: { nonce } }, (m, ctx) => decideRestart(m, options, ctx));
}

export async function suspendMachine(deps: ControlDeps, appName: string, id: string, nonce: Nonce): Promise<void> {
  await writeMachine(deps, appName, id, { lease: { nonce } }, (m, ctx) => decideSuspend(m, deps.settings.suspendMaxMemoryMb, ctx));
}

export async function destroyMachine(deps: ControlDeps, appName: string, id: string, options: { force: boolean; nonce: Nonce }): Promise<void> {
  await writeMachine(deps, appName, id, { lease: { nonce: options.nonce } }, (m, ctx) => decideDestroy(m, options.force, ctx));
}

/**
 * Destroys a machine only while its metadata `key` holds `value`, in one write: a
 * machine that a claim (metadata.ts `replaceMetadataIf`) has taken meanwhile is
 * left alone, and a refused destroy (a lease, an unreachable host) leaves the mark
 * for the next try.
 */
export async function destroyMachineIf(deps: ControlDeps, appName: string, id: string, held: { key: string; value: string }): Promise<void> {
  await writeMachine(deps, appName, id, { lease: { nonce: undefined } }, (m, ctx) => {
    if (m.config.metadata?.[held.key] !== held.value) throw new HangarError('conflict', `machine ${id} is no longer what was to be destroyed (${held.key} ${held.value})`);
    return decideDestroy(m, true, ctx);
  });
}

export interface UpdateMachineInput {
  config?: unknown;
  current_version?: unknown;
  name?: unknown;
  region?: unknown;
  skip_launch?: unknown;
}

/** Who asks: a token holder, or the machine itself through its `/.fly/api` socket. */
export type Caller = 'operator' | 'machine';

/**
 * Updates a machine. A new image is prepared first, while the machine goes on as it
 * is (a running VM keeps running): only then is the new version recorded, and a
 * running machine replaced. If the image cannot be prepared, nothing changes but
 * an `update` event saying why, and the request answers 422 (as a create does).
 */
export async function updateMachine(deps: ControlDeps, appName: string, id: string, input: UpdateMachineInput, nonce: Nonce, caller: Caller = 'operator'): Promise<MachineRecord> {
  const config = await withMountDetails(deps, appName, normalizeConfig(input.config));
  await checkStandbys(deps, appName, id, config);
  let imageRef = parseImageRef(config.image);
  const check = (machine: MachineRecord) => {
    if (typeof input.current_version === 'string' && input.current_version !== '' && input.current_version !== machine.version) {
      throw new HangarError('version_mismatch', `machine ${id}: current_version ${input.current_version} does not match the machine's version ${machine.version}`, 'read the machine again and retry');
    }
    if (typeof input.name === 'string' && input.name !== '' && input.name !== machine.name) throw invalid('name is immutable and cannot be updated');
    if (typeof input.region === 'string' && input.region !== '' && input.region !== machine.region) throw invalid('region is immutable and cannot be updated');
    // A mount may be added (attached) or removed (let go of), not swapped for another.
    const oldVolume = machine.config.mounts?.[0]?.volume;
    const newVolume = config.mounts?.[0]?.volume;
    if (oldVolume !== undefined && newVolume !== undefined && oldVolume !== newVolume) {
      throw invalid('the volume a machine mounts cannot be changed by update; create a new machine instead');
    }
  };
  const current = await loadMachine(deps, appName, id);
  if (caller === 'machine') await checkGuestImage(config.image, current.config.image, deps.settings.guestImageRegistries, deps.resolveHost);
  // Everything that would refuse the update is checked before the (slow) pull and before a volume is attached.
  checkLease(id, current.lease, nonce, deps.clock.now());
  check(current);
  targetOf(current, 'update');
  if (current.config.image !== config.image) {
    try {
      imageRef = await deps.runtime.pullImage(config.image, () => undefined);
    } catch (error) {
      const reason = withoutHostPaths(errorMessage(error));
      await writeMachine(deps, appName, id, { lease: { nonce } }, (machine, ctx) => decideUpdateRefused(machine, config.image, reason, ctx));
      throw new HangarError('launch_failed', `failed to update machine ${id}: image ${config.image} could not be prepared: ${reason}`,
        'the machine runs on as it was; fix the image reference and update again');
    }
  }
  // The same tag is looked up again, as a create's is (pinned here, or by the host as it prepares): never the old digest kept.
  const sameTag = current.config.image === config.image && imageRef.digest === '' && !isLocalImage(imageRef);
  if (sameTag) imageRef = await pinned(deps, imageRef);
  // A volume the new config mounts is the machine's before the new version is recorded, as on create.
  const volume = config.mounts?.[0]?.volume;
  const attached = volume === undefined ? false : await attachForUpdate(deps, current, volume);
  let written: { before: MachineRecord; after: MachineRecord };
  try {
    written = await writeMachine(deps, appName, id, { lease: { nonce } }, (machine, ctx) => {
      check(machine);
      const version = deps.ids.ulid();
      const sameImage = machine.config.image === config.image;
      const resolvedRef = sameImage && !sameTag ? { ...imageRef, digest: machine.imageRef.digest || imageRef.digest } : imageRef;
      const decision = decideUpdate(machine, { config, imageRef: resolvedRef, version, skipLaunch: input.skip_launch === true }, ctx);
      const record: MachineVersion = { machineId: id, version, config, imageRef: resolvedRef, createdAt: ctx.now };
      return { ...decision, version: record };
    });
  } catch (error) {
    // Refused after all: the volume this attached goes back, unless the machine as it is now mounts it.
    if (attached) {
      await loadMachine(deps, appName, id).then((machine) => releaseVolumes(deps, machine))
        .catch((undo: unknown) => deps.log.warn({ err: undo, machineId: id }, `could not let go of volume ${volume} after a refused update`));
    }
    throw error;
  }
  // A volume the update no longer mounts goes now, unless the old VM still runs (replacing): then once it is replaced (observer.ts).
  // The update is done whatever happens here: a volume not let go of is logged, not a failed request.
  const { before, after } = written;
  if (volumesLetGo(before, after)) {
    await releaseVolumes(deps, after).catch((error: unknown) => deps.log.warn({ err: error, machineId: id }, `machine ${id}: could not let go of the volumes it no longer mounts`));
  }
  return after;
}

export async function setCordoned(deps: ControlDeps, appName: string, id: string, cordoned: boolean, nonce: Nonce): Promise<void> {
  await writeMachine(deps, appName, id, { lease: { nonce } }, (machine, ctx) => {
    if (machine.state === 'destroyed') throw new HangarError('invalid_state', `machine ${id} is destroyed`);
    return { machine: { ...machine, cordoned, updatedAt: ctx.now }, events: [], effects: [] };
  });
}

async function runningMachine(deps: ControlDeps, appName: string, id: string, what: string): Promise<MachineRecord> {
  const machine = await loadMachine(deps, appName, id);
  if (machine.state !== 'started') {
    throw new HangarError('invalid_state', `cannot ${what} machine ${id}: machine is ${machine.state}`, 'start the machine first');
  }
  return machine;
}

export async function signalMachine(deps: ControlDeps, appName: string, id: string, signal: unknown): Promise<void> {
  const name = parseSignal(signal);
  await runningMachine(deps, appName, id, 'signal');
  await deps.runtime.guest.signal(id, { signal: name });
}

export interface ExecInput {
  command?: unknown;
  cmd?: unknown;
  stdin?: unknown;
  timeout?: unknown;
}

const DEFAULT_EXEC_TIMEOUT_S = 30;

export async function execMachine(deps: ControlDeps, appName: string, id: string, input: ExecInput): Promise<ExecResult> {
  const command = parseCommand(input);
  const timeout = input.timeout === undefined || input.timeout === 0 ? DEFAULT_EXEC_TIMEOUT_S : input.timeout;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 3600) {
    throw invalid('timeout must be a whole number of seconds from 1 to 3600');
  }
  if (input.stdin !== undefined && typeof input.stdin !== 'string') throw invalid('stdin must be a string');
  await runningMachine(deps, appName, id, 'exec in');
  return deps.runtime.guest.exec(id, { command, stdin: input.stdin, timeoutMs: timeout * 1000 });
}

export async function psMachine(deps: ControlDeps, appName: string, id: string): Promise<ProcessInfo[]> {
  await runningMachine(deps, appName, id, 'list processes of');
  return deps.runtime.guest.ps(id);
}

export async function machineMemory(deps: ControlDeps, appName: string, id: string): Promise<MemoryInfo> {
  await runningMachine(deps, appName, id, 'read the memory of');
  return deps.runtime.guest.memory(id);
}

export async function setMachineMemoryLimit(deps: ControlDeps, appName: string, id: string, limitMb: unknown): Promise<MemoryInfo> {
  const machine = await runningMachine(deps, appName, id, 'set the memory limit of');
  const max = machine.config.guest.memory_mb;
  if (!Number.isInteger(limitMb) || (limitMb as number) < MIN_MEMORY_LIMIT_MB || (limitMb as number) > max) {
    throw invalid(`limit_mb must be a whole number from ${MIN_MEMORY_LIMIT_MB} to the machine's ${max} MB`);
  }
  return deps.runtime.guest.setMemoryLimit(id, { limitMb: limitMb as number });
}

export async function reclaimMachineMemory(deps: ControlDeps, appName: string, id: string, amountMb: unknown): Promise<{ actual_mb: number }> {
  if (!Number.isInteger(amountMb) || (amountMb as number) < 1) throw invalid('amount_mb must be a positive whole number');
  await runningMachine(deps, appName, id, 'reclaim memory from');
  return { actual_mb: (await deps.runtime.guest.reclaimMemory(id, { amountMb: amountMb as number })).reclaimedMb };
}

/** `command` (an array) per the spec; flyctl sends `cmd` (a string), split as a shell would split words. */
export function parseCommand(input: ExecInput): string[] {
  if (Array.isArray(input.command) && input.command.length > 0 && input.command.every((part) => typeof part === 'string')) {
    return input.command as string[];
  }
  if (typeof input.cmd === 'string' && input.cmd.trim() !== '') return splitWords(input.cmd);
  throw invalid('command is required: {"command": ["ls", "-l"]} or {"cmd": "ls -l"}');
}

function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | null = null;
  let started = false;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = null;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      started = true;
    } else if (/\s/.test(char)) {
      if (started || current) words.push(current);
      current = '';
      started = false;
    } else {
      current += char;
    }
  }
  if (quote) throw invalid('cmd has an unterminated quote');
  if (started || current) words.push(current);
  return words;
}
