/**
 * The web console's files at `/console`: its page and bundle, built into
 * console/dist by console/build.ts (scripts/setup.sh runs it) and read once at
 * start-up. They need no token (the page signs in with it, and sends it with every
 * call it makes), and go out with a Content-Security-Policy that lets the page load
 * and call nothing but this server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Type } from 'typebox';
import { HangarError } from '../../domain/errors.ts';
import type { Api } from './types.ts';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

export const CONSOLE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

/** The built files by name; empty when the console was not built. */
function readBuilt(dir: string): Map<string, { body: Buffer; type: string }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return new Map();
  }
  return new Map(names.filter((name) => TYPES[extname(name)]).map((name) => [name, { body: readFileSync(join(dir, name)), type: TYPES[extname(name)] as string }]));
}

export function consoleRoutes(api: Api, dir: string): void {
  const files = readBuilt(dir);
  const serve = (name: string) => {
    const file = files.get(name);
    if (!file) {
      throw files.size === 0
        ? new HangarError('not_found', 'the web console is not built', 'run scripts/setup.sh (it builds console/dist)')
        : new HangarError('not_found', 'no such console file');
    }
    return file;
  };
  api.get('/console', { schema: { hide: true } }, async (_request, reply) => {
    const file = serve('index.html');
    return reply.headers({ ...CONSOLE_HEADERS, 'content-type': file.type }).send(file.body);
  });
  api.get('/console/:file', { schema: { hide: true, params: Type.Object({ file: Type.String({ pattern: '^[a-z0-9-]+\\.(js|css|svg)$' }) }) } }, async (request, reply) => {
    const file = serve(request.params.file);
    return reply.headers({ ...CONSOLE_HEADERS, 'content-type': file.type }).send(file.body);
  });
}
