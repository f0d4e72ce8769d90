/**
 * Looking an app up for a use case: found, or not found; and refused for a create
 * while it is being deleted. Apart from apps.ts, so that apps, volumes and their
 * snapshots can each look apps up without importing one another.
 */
import { appNotFound, HangarError } from '../domain/errors.ts';
import type { App } from '../domain/machine.ts';
import type { ControlDeps } from './ports.ts';

/** The app, or a not-found error. Cheap: every machine request goes through it. */
export async function getApp(deps: ControlDeps, name: string): Promise<App> {
  const app = await deps.store.getApp(name);
  if (!app) throw appNotFound(name);
  return app;
}

/** The error for creating anything in an app that is being deleted. */
export function appDeletingError(name: string): HangarError {
  return new HangarError('conflict', `app ${name} is being deleted`, 'wait for the deletion to finish, then create the app again');
}

/** The app something is to be created in: not found, or refused while it is being deleted. */
export async function appForCreate(deps: ControlDeps, name: string): Promise<App> {
  const app = await getApp(deps, name);
  if (app.deleting) throw appDeletingError(name);
  return app;
}
