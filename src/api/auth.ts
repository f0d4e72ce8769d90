/** API authentication: `Authorization: Bearer <token>` or `FlyV1 <token>` (fly-go's scheme). */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HangarError } from '../domain/errors.ts';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Returns a checker that throws `unauthenticated` unless the header carries the token. */
export function tokenChecker(token: string): (header: string | undefined) => void {
  const expected = digest(token);
  return (header) => {
    if (!header) throw new HangarError('unauthenticated', 'unauthorized: missing Authorization header', 'send Authorization: Bearer <token>');
    const match = /^(Bearer|FlyV1)\s+(.+)$/i.exec(header.trim());
    if (!match) throw new HangarError('unauthenticated', 'unauthorized: Authorization must be "Bearer <token>" or "FlyV1 <token>"');
    if (!timingSafeEqual(digest(match[2] as string), expected)) throw new HangarError('unauthenticated', 'unauthorized: invalid token');
  };
}
