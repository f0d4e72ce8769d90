/**
 * A TCP proxy on loopback in front of a server (PostgreSQL's unix socket, say),
 * that a test can blackhole: every byte either way is then dropped and new
 * connections are held, without a reset, as a network partition or a failover
 * that leaves connections half-open looks to both ends.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Drops everything (true) or carries it again (false; connections held meanwhile stay dead). */
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { path: string } | { host: string; port: number }): Promise<TcpProxy> {
  let dropping = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (dropping) {
      client.on('data', () => undefined);
      return;
    }
    const upstream = connect(target);
    sockets.add(upstream);
    upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    // Both ways, until a blackhole drops what comes after.
    client.on('data', (chunk) => { if (!dropping) upstream.write(chunk); });
    upstream.on('data', (chunk) => { if (!dropping) client.write(chunk); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    blackhole(on) {
      dropping = on;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
