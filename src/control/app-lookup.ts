/**
 * Looking an app up for a use case: found, or not found; refused for a create
 * while it is being deleted; and, for a machine's create, as this process last
 * knew it (KnownApps). Apart from apps.ts, so that apps, volumes and their
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

/**
 * The apps this process made machines in, by name, so that a create need not read
 * its app: the insert checks in its own transaction that the app named is still
 * there, not being deleted, and the same app (its id), and a create that finds
 * otherwise forgets it here and reads it again (see createMachine).
 */
export class KnownApps {
  private readonly apps = new Map<string, App>();

  get(name: string): App | undefined {
    return this.apps.get(name);
  }

  remember(app: App): void {
    if (app.deleting) this.apps.delete(app.name);
    else this.apps.set(app.name, app);
  }

  forget(name: string): void {
    this.apps.delete(name);
  }
}

/** The app a machine is to be created in, as this process knows it if it does (the insert checks it), else as appForCreate reads it. */
export async function appForMachineCreate(deps: ControlDeps, name: string): Promise<App> {
  const known = deps.knownApps?.get(name);
  if (known) return known;
  const app = await appForCreate(deps, name);
  deps.knownApps?.remember(app);
  return app;
}
