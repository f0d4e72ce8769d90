/**
 * Where a machine's port is reached from the host: its private address, through
 * the machines' namespace. Tests on the fake driver point machines at local servers.
 */
import { connect } from 'node:net';
import type { MachineRecord } from '../domain/machine.ts';

export interface Address {
  host: string;
  port: number;
}

export type Upstreams = (machine: MachineRecord, port: number) => Address;

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
