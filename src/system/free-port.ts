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
    const port = LOWEST + randomInt(above);
    if (await listens(host, port)) return port;
  }
  // Every port drawn was taken: one in the ephemeral range, as before.
  return probe(host);
}

/** The kernel's range of ports for outgoing connections (Linux's default if it cannot be read). */
export function ephemeralRange(path = '/proc/sys/net/ipv4/ip_local_port_range'): { first: number; last: number } {
  try {
    const [first, last] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(first) && Number.isInteger(last) && (first as number) > 1024 && (first as number) <= (last as number)) return { first: first as number, last: last as number };
  } catch {
    // Not Linux, or not readable: the default below.
  }
  return { first: 32_768, last: 60_999 };
}

function listens(host: string, port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function probe(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error(`could not find a free port on ${host}`);
  return address.port;
}
