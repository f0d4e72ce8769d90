/** `/v1/apps`: create, list, show, delete. */
import { createApp, deleteApp, listApps, showApp } from '../../control/apps.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { appJson, createdAppJson } from '../present.ts';
import { AppParams, CreateAppBody, ListAppsQuery } from '../schemas.ts';
import type { Api } from './types.ts';

export function appRoutes(api: Api, deps: ControlDeps): void {
  api.get('/v1/apps', { schema: { operationId: 'Apps_list', tags: ['Apps'], querystring: ListAppsQuery } }, async (request) => {
    const apps = await listApps(deps, request.query.org_slug || undefined);
    return { apps: apps.map(appJson), total_apps: apps.length };
  });

  api.post('/v1/apps', { schema: { operationId: 'Apps_create', tags: ['Apps'], body: CreateAppBody } }, async (request, reply) => {
    const app = await createApp(deps, request.body);
    return reply.status(201).send(createdAppJson(app));
  });

  api.get('/v1/apps/:app_name', { schema: { operationId: 'Apps_show', tags: ['Apps'], params: AppParams } }, async (request) => {
    return appJson(await showApp(deps, request.params.app_name));
  });

  api.delete('/v1/apps/:app_name', { schema: { operationId: 'Apps_delete', tags: ['Apps'], params: AppParams } }, async (request, reply) => {
    await deleteApp(deps, request.params.app_name);
    return reply.status(202).send();
  });
}
