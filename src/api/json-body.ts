/**
 * How the API reads JSON bodies. An empty body reads as null: Fly's own curl
 * examples send `Content-Type: application/json` with no body to start, stop and
 * suspend. A body nested deeper than `MAX_JSON_DEPTH` is refused before it is
 * parsed, so no later walk over it (validation, cloning, storing) can exhaust the
 * stack.
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
    return parseJson(request, text, done);
  });
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
