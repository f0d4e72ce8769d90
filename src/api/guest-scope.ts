/**
 * Requests from inside a machine, through its `/.fly/api` socket (as on Fly, for
 * example to suspend itself). They need no token and reach only that machine's
 * own endpoints, `/v1/apps/<its app>/machines/<its id>[/…]`: nothing else is seen.
 */
import type { Duplex } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { GuestIdentity } from '../domain/runtime.ts';
import type { Api } from './routes/types.ts';

const GUEST = Symbol('hangar.guest');

/** Serves one `/.fly/api` connection of `guest` with the API. */
export function serveGuestConnection(app: Api, guest: GuestIdentity, stream: Duplex): void {
  Object.assign(stream, { [GUEST]: guest });
  app.server.emit('connection', stream);
}

export function guestOf(request: FastifyRequest): GuestIdentity | undefined {
  return (request.raw.socket as unknown as Record<symbol, GuestIdentity | undefined>)[GUEST];
}

/** Why the guest may not make a request to `url`, or null when it may. */
export function guestRefusal(guest: GuestIdentity, url: string): string | null {
  const match = /^\/v1\/apps\/([^/?]+)\/machines\/([^/?]+)(?:[/?].*)?$/.exec(url);
  const own = match && decodeURIComponent(match[1] as string) === guest.appName && decodeURIComponent(match[2] as string) === guest.machineId;
  return own ? null : `/.fly/api in machine ${guest.machineId} serves only /v1/apps/${guest.appName}/machines/${guest.machineId}`;
}
