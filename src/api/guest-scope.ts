/**
 * Requests from inside a machine, through its `/.fly/api` socket (as on Fly, for
 * example to suspend itself). They need no token and reach only that machine's
 * own endpoints, `/v1/apps/<its app>/machines/<its id>[/…]`: nothing else is seen.
 * The decision is made on the route the router matched and its decoded parameters,
 * never on the raw URL, so no spelling of a path reaches another machine.
 */
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { GuestIdentity } from '../domain/runtime.ts';
import type { Api } from './routes/types.ts';

const GUEST = Symbol('hangar.guest');

/** The route prefix a guest may use; every route below it names the app and machine as parameters. */
const OWN_MACHINE_ROUTE = '/v1/apps/:app_name/machines/:machine_id';

/**
 * Guest connections get an HTTP server of their own in front of the same routes
 * (`app.routing`), for one difference: a client that shuts its write side once its
 * request is out (`shutdown(SHUT_WR)`, `nc -N`; hangar-init relays that as the end
 * of the stream) still gets its answer, and then the connection ends. Node's default
 * ends such a connection at once, answer unsent. (`httpAllowHalfOpen` is a
 * long-standing property of http.Server that its types leave out; the API's own
 * listener keeps the default, which lets a streamed answer see a client leave.)
 */
const guestServers = new WeakMap<Api, Server>();

function guestServer(app: Api): Server {
  let server = guestServers.get(app);
  if (!server) {
    server = createServer((request, response) => app.routing(request, response));
    (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    guestServers.set(app, server);
  }
  return server;
}

/** Serves one `/.fly/api` connection of `guest` with the API. */
export function serveGuestConnection(app: Api, guest: GuestIdentity, stream: Duplex): void {
  Object.assign(stream, { [GUEST]: guest });
  guestServer(app).emit('connection', stream);
}

export function guestOf(request: FastifyRequest): GuestIdentity | undefined {
  return (request.raw.socket as unknown as Record<symbol, GuestIdentity | undefined>)[GUEST];
}

/** Why the guest may not make `request`, or null when it may. */
export function guestRefusal(guest: GuestIdentity, request: FastifyRequest): string | null {
  const route = request.routeOptions.url;
  const params = request.params as Record<string, unknown> | undefined;
  const own = route !== undefined
    && (route === OWN_MACHINE_ROUTE || route.startsWith(`${OWN_MACHINE_ROUTE}/`))
    && params?.app_name === guest.appName
    && params?.machine_id === guest.machineId;
  return own ? null : `/.fly/api in machine ${guest.machineId} serves only /v1/apps/${guest.appName}/machines/${guest.machineId}`;
}
