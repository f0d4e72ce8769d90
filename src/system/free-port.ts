/**
 * A free TCP port to listen on later, for an address given with port 0 that must be
 * known before its server listens (a host agent's, registered first). Drawn below
 * the kernel's ephemeral range: a port in that range, free when probed, may be
 * taken before the server listens by any outgoing connection (the process's own to
 * PostgreSQL), which a port below it never is.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Where the draw starts: above the ports services are usually given. */
const LOWEST = 10_000;
const ATTEMPTS = 64;

export async function freePortToListen(host: string, ephemeral = ephemeralRange()): Promise<number> {
  const above = Math.max(1, ephemeral.first - LOWEST);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      return await listenOnce(host, LOWEST + randomInt(above));
    } catch {
      // Taken: draw again.
    }
  }
  // Every port drawn was taken: one in the ephemeral range, as before.
  return listenOnce(host, 0);
}

/** The kernel's range of ports for outgoing connections (Linux's default if it cannot be read). */
export function ephemeralRange(path = '/proc/sys/net/ipv4/ip_local_port_range'): { first: number; last: number } {
  try {
    const [first = NaN, last = NaN] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(first) && Number.isInteger(last) && first > 1024 && first <= last) return { first, last };
  } catch {
    // Not Linux, or not readable: the default below.
  }
  return { first: 32_768, last: 60_999 };
}

/** The port a server got by listening at `port` on `host` (0: any), closed again at once. */
async function listenOnce(host: string, port: number): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error(`could not find a free port on ${host}`);
  return address.port;
}
