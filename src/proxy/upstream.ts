/**
 * Where a machine's port is reached from the host: its private address, through
 * the machines' namespace. Tests on the fake driver point machines at local servers.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProxyMachine } from './ports.ts';

export interface Address {
  host: string;
  port: number;
}

export type Upstreams = (machine: ProxyMachine, port: number) => Address;

export const privateAddress: Upstreams = (machine, port) => ({ host: machine.privateIp, port });

/** Whether something accepts a TCP connection at `address` within `timeoutMs`. */
export function accepts(address: Address, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.host, port: address.port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The pause between two connection attempts to a machine that refused. */
export const CONNECT_RETRY_MS = 100;

/**
 * A connection to `address`, tried again for `retryMs` while it is refused (the
 * machine's app may still be starting), unless the caller `gaveUp` meanwhile.
 */
export async function connectTo(address: Address, retryMs: number, gaveUp: () => boolean): Promise<Socket | Error> {
  const stop = performance.now() + retryMs;
  for (;;) {
    const attempt = await new Promise<Socket | Error>((resolve) => {
      const socket = connect({ host: address.host, port: address.port });
      socket.once('connect', () => resolve(socket));
      socket.once('error', (error) => {
        socket.destroy();
        resolve(error);
      });
    });
    if (!(attempt instanceof Error) || performance.now() >= stop || gaveUp()) return attempt;
    await sleep(CONNECT_RETRY_MS);
  }
}
