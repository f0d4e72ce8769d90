/**
 * Who may make a request, decided on the route the router matched (deny by
 * default): every route needs the API token except the few named public here and
 * E2B's (which take an E2B key: src/e2b/routes.ts), and a request from inside a machine (`/.fly/api`) reaches only that machine.
 * A request that matches no route needs the token too, so an unknown path tells
 * an anonymous caller nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HangarError, HTTP_STATUS } from '../domain/errors.ts';
import { tokenChecker } from './auth.ts';
import { errorBody } from './errors.ts';
import { guestOf, guestRefusal } from './guest-scope.ts';

/** Routes served without a token: the console's page and bundle sign in with it, and send it with every call. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/openapi.json', '/console', '/console/:file']);

export function accessHook(token: string): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const checkToken = tokenChecker(token);
  return async (request, reply) => {
    const guest = guestOf(request);
    if (guest) {
      const refusal = guestRefusal(guest, request);
      return refusal ? refuse(reply, new HangarError('forbidden', refusal)) : undefined;
    }
    const route = request.routeOptions.url;
    if (route !== undefined && PUBLIC_ROUTES.has(route)) return undefined;
    // E2B's API authenticates by its own keys (src/e2b/routes.ts), on every route it matched.
    if (route?.startsWith('/e2b/')) return undefined;
    try {
      checkToken(request.headers.authorization);
      return undefined;
    } catch (error) {
      if (!(error instanceof HangarError)) throw error;
      return refuse(reply, error);
    }
  };
}

function refuse(reply: FastifyReply, error: HangarError): FastifyReply {
  return reply.status(HTTP_STATUS[error.code]).send(errorBody(error));
}
