/**
 * Apps: create, list, show, delete. Deleting an app destroys every machine of it,
 * those still being created included, and deletes no record while a VM of it may
 * still exist; then its volumes go, then the app.
 */
import { appNotFound, HangarError, invalid } from '../domain/errors.ts';
import { decideDestroy } from '../domain/lifecycle/actions.ts';
import { unchanged } from '../domain/lifecycle/decision.ts';
import type { App } from '../domain/machine.ts';
import { APP_NAME } from '../domain/names.ts';
import type { MachineState } from '../domain/states.ts';
import type { AppWithCounts } from '../store/store.ts';
import { DuplicateError } from '../store/errors.ts';
import { failpoint } from '../system/failpoints.ts';
import { writeMachine } from './machine-writer.ts';
import type { ControlDeps } from './ports.ts';
import { deleteAppVolumes } from './volumes.ts';
import { stateOrGone, untilChange } from './waiting.ts';

export interface CreateAppInput {
  name?: unknown;
  org_slug?: unknown;
  network?: unknown;
}

export async function createApp(deps: ControlDeps, input: CreateAppInput): Promise<App> {
  if (typeof input.name !== 'string' || !APP_NAME.test(input.name)) {
    throw invalid('app name must be 2-63 lowercase letters, digits and dashes, starting with a letter or digit');
  }
  const orgSlug = typeof input.org_slug === 'string' && input.org_slug !== '' ? input.org_slug : 'personal';
  const network = typeof input.network === 'string' && input.network !== '' ? input.network : 'default';
  try {
    return await deps.store.createApp({ id: deps.ids.ulid().toLowerCase(), name: input.name, orgSlug, network, createdAt: deps.clock.now() });
  } catch (error) {
    if (error instanceof DuplicateError) throw new HangarError('name_taken', `app name "${input.name}" is already taken`);
    throw error;
  }
}

/** The app with its machine count, for showing it. */
export async function showApp(deps: ControlDeps, name: string): Promise<AppWithCounts> {
  const app = await deps.store.getAppWithCounts(name);
  if (!app) throw appNotFound(name);
  return app;
}

export function listApps(deps: ControlDeps, orgSlug: string | undefined): Promise<AppWithCounts[]> {
  return deps.store.listApps(orgSlug);
}

/** How long a deletion waits for each machine to be destroyed before it answers 409 (asking again carries on). */
const DESTROY_WAIT_MS = 60_000;
/** States of a machine already on its way to `destroyed`. */
const GOING: readonly MachineState[] = ['destroying', 'launch_failed', 'destroyed'];

/**
 * Marks the app as being deleted (from then on creates are refused), waits for
 * the creates already under way, destroys every machine (forced, whatever lease
 * it holds; `creating` ones too), waits until each is destroyed, then deletes the
 * volumes and the app's records. If a machine takes too long, the app stays
 * marked and another delete carries on where this one stopped (as does a
 * hangar started again after one died mid-way: see interrupted.ts).
 */
export async function deleteApp(deps: ControlDeps, name: string, signal?: AbortSignal): Promise<void> {
  deps.knownApps?.forget(name);
  if (!(await deps.store.markAppDeleting(name))) throw appNotFound(name);
  await deps.creates.settled(name);
  const machines = (await deps.store.listMachines(name, {})).map(({ machine }) => machine);
  for (const machine of machines) await destroyForDeletion(deps, name, machine.id);
  for (const machine of machines) {
    const done = await untilChange(deps, machine.id, (change) => change.state === 'destroyed', () => stateOrGone(deps, machine.id), DESTROY_WAIT_MS, signal);
    if (!done) {
      signal?.throwIfAborted();
      throw new HangarError('conflict', `app ${name}: machine ${machine.id} did not finish destroying; try again`);
    }
  }
  failpoint('app-delete.after-destroy');
  await deleteAppVolumes(deps, name);
  await deps.store.deleteApp(name);
}

async function destroyForDeletion(deps: ControlDeps, appName: string, id: string): Promise<void> {
  try {
    await writeMachine(deps, appName, id, {}, (machine, ctx) => (GOING.includes(machine.state) ? unchanged(machine) : decideDestroy(machine, true, ctx)));
  } catch (error) {
    // Gone meanwhile: another deletion finished it.
    if (!(error instanceof HangarError && error.code === 'not_found')) throw error;
  }
}
