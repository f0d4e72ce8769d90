/** Apps: create, list, show, delete (deleting an app destroys its machines, then its volumes). */
import { appNotFound, HangarError, invalid } from '../domain/errors.ts';
import type { App } from '../domain/machine.ts';
import { APP_NAME } from '../domain/names.ts';
import { DuplicateError, type AppWithCounts } from '../store/store.ts';
import type { ControlDeps } from './ports.ts';
import { destroyMachine } from './actions.ts';
import { deleteAppVolumes } from './volumes.ts';
import { stateNow, untilChange } from './waiting.ts';

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

/** The app, or a not-found error. Cheap: every machine request goes through it. */
export async function getApp(deps: ControlDeps, name: string): Promise<App> {
  const app = await deps.store.getApp(name);
  if (!app) throw appNotFound(name);
  return app;
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

/** Destroys every machine of the app (forcing running ones), waits for them, deletes its volumes, then the app. */
export async function deleteApp(deps: ControlDeps, name: string): Promise<void> {
  await getApp(deps, name);
  const listings = await deps.store.listMachines(name, {});
  for (const { machine } of listings) {
    if (machine.state !== 'destroying') await destroyMachine(deps, name, machine.id, { force: true, nonce: machine.lease?.nonce });
  }
  for (const { machine } of listings) {
    const done = await untilChange(deps, machine.id, (change) => change.state === 'destroyed', () => stateNow(deps, machine.id), 60_000);
    if (!done) {
      throw new HangarError('conflict', `app ${name}: machine ${machine.id} did not finish destroying; try again`);
    }
  }
  await deleteAppVolumes(deps, name);
  await deps.store.deleteApp(name);
}
