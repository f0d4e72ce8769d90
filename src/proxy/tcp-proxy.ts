/**
 * Raw TCP through the edge proxy: a connection to an app's host port goes to one
 * machine serving that public port, chosen and woken like an HTTP request, and
 * counts as one unit of load until it closes. Half-closes pass through, so a
 * client may finish sending and still read the answer.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage } from '../domain/errors.ts';
import type { Router } from './router.ts';
import { connectTo } from './upstream.ts';

export interface TcpProxyOptions {
  router: Router;
  log: Logger;
  /** How long a machine that refuses the connection is tried again. */
  connectRetryMs: number;
  onConnection?: (appName: string, machineId: string, seconds: number) => void;
}

export async function forwardConnection(client: Socket, appName: string, port: number, options: TcpProxyOptions): Promise<void> {
  const began = performance.now();
  const fields = { app: appName, port, client: client.remoteAddress };
  client.on('error', () => client.destroy());
  let routed;
  try {
    routed = await options.router.route(appName, port, false);
  } catch (error) {
    options.log.warn({ ...fields, err: errorMessage(error) }, `proxy: no machine for a connection to ${appName}:${port}`);
    return void client.destroy();
  }
  const upstream = await connectTo(routed.address, options.connectRetryMs, () => client.destroyed);
  if (upstream instanceof Error || client.destroyed) {
    routed.release();
    if (upstream instanceof Error) options.log.warn({ ...fields, machine: routed.machine.id, err: upstream.message }, `proxy: machine ${routed.machine.id} did not accept`);
    else upstream.destroy();
    return void client.destroy();
  }
  upstream.on('error', () => client.destroy());
  client.pipe(upstream).pipe(client);
  client.once('close', () => {
    upstream.destroy();
    routed.release();
    const seconds = (performance.now() - began) / 1000;
    options.onConnection?.(appName, routed.machine.id, seconds);
    options.log.info({ ...fields, machine: routed.machine.id, ms: Math.round(seconds * 1000), bytesIn: client.bytesRead, bytesOut: client.bytesWritten }, 'proxy connection');
  });
}
