/**
 * How the API reads JSON bodies. An empty body reads as null: Fly's own curl
 * examples send `Content-Type: application/json` with no body to start, stop and
 * suspend. A body nested deeper than `MAX_JSON_DEPTH` is refused before it is
 * parsed, so no later walk over it (validation, cloning, storing) can exhaust the
 * stack. A key that could change what objects inherit (`__proto__`, or
 * `constructor` holding `prototype`) is refused wherever it is, naming it: no
 * object built from a body can be given a prototype by its sender.
 */
import { HangarError } from '../domain/errors.ts';
import type { Api } from './routes/types.ts';

/** Fly's configs nest about eight levels deep; this leaves room for unknown fields. */
export const MAX_JSON_DEPTH = 64;

export function acceptJsonBodies(app: Api): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, null);
    if (nestingDepth(text) > MAX_JSON_DEPTH) {
      return done(new HangarError('invalid_argument', `JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    }
    return parseJson(request, text, (error, value) => {
      if (!error) return done(null, value);
      // Fastify's parser also refuses keys that could change what objects inherit,
      // with the same words as for broken JSON: say which key and where instead.
      const found = inheritanceKey(parsedOrUndefined(text));
      return done(found ? new HangarError('invalid_argument', `JSON body holds ${found}, which hangar refuses in every request: a key that could change what objects inherit`) : error, undefined);
    });
  });
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The first key of a parsed body that names an object's prototype: `"__proto__"`
 * (JSON.parse keeps it as an own key), or `"constructor"` holding `"prototype"`,
 * with where it is (`at config.env`); undefined when there is none.
 */
export function inheritanceKey(value: unknown, path = ''): string | undefined {
  const where = path === '' ? 'at the top level' : `at ${path}`;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = inheritanceKey(item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, field] of Object.entries(value)) {
    if (key === '__proto__') return `the key "__proto__" ${where}`;
    if (key === 'constructor' && typeof field === 'object' && field !== null && Object.hasOwn(field, 'prototype')) return `the key "constructor" holding "prototype" ${where}`;
    const found = inheritanceKey(field, path === '' ? key : `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

/** The deepest nesting of objects and arrays in JSON text (strings skipped); valid or not. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7b || char === 0x5b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (char === 0x7d || char === 0x5d) {
      depth--;
    }
  }
  return deepest;
}
