/**
 * Assembling a hangar: the one place real adapters are wired together, one file
 * per role over a shared core (core.ts). `assemble` builds a hangar of a role
 * without listening on its API or proxy; server.ts adds the token, the data-dir
 * lock and the sockets.
 */
import { assembleAll } from './all.ts';
import { assembleApi } from './api.ts';
import { assembleHost } from './host.ts';
import type { AssembleOptions, Hangar } from './options.ts';

export type { AssembleOptions, ClusterOptions, Hangar, ProxySettings, Role } from './options.ts';
export { DEFAULT_SETTINGS, defaultHostId } from './core.ts';

export function assemble(options: AssembleOptions): Promise<Hangar> {
  switch (options.role ?? 'all') {
    case 'all':
      return assembleAll(options);
    case 'api':
      return assembleApi(options);
    case 'host':
      return assembleHost(options);
  }
}
