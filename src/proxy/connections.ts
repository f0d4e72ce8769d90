/** Open connections of a listener, so that closing the proxy can end them instead of waiting. */
import type { Server, Socket } from 'node:net';

export function trackConnections(server: Server, event = 'connection'): { destroyAll(): void } {
  const open = new Set<Socket>();
  server.on(event, (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return {
    destroyAll() {
      for (const socket of open) socket.destroy();
    },
  };
}
