/**
 * `GET /hangar/v1/apps/{app}/ports`: where each of the app's public ports is
 * reached through the edge proxy: the shared HTTP and TLS listeners (with the
 * `Host` that selects the app) or the host port the app was given. hangar's own
 * endpoint, outside Fly's /v1, where an app has its own IP addresses instead.
 */
import { showApp } from '../../control/apps.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { AppParams } from '../schemas.ts';
import type { Api } from './types.ts';

export function portRoutes(api: Api, deps: ControlDeps): void {
  api.get('/hangar/v1/apps/:app_name/ports', { schema: { operationId: 'Hangar_app_ports', tags: ['hangar'], params: AppParams } }, async (request) => {
    const app = await showApp(deps, request.params.app_name);
    return { ports: deps.ports?.portsOf(app.name) ?? [] };
  });
}
