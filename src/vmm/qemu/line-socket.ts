/**
 * Plumbing shared by the QMP and guest-agent clients: a unix socket connected
 * with a timeout, split into lines, and a table of requests awaiting answers.
 */
import { connect, type Socket } from 'node:net';

export function connectUnix(path: string, timeoutMs: number, what: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${what}: no connection to ${path} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); resolve(socket); });
    socket.once('error', (error) => { clearTimeout(timer); reject(error); });
  });
}

/** Calls `onLine` for each complete line, `onClose` once when the socket ends. */
export function readLines(socket: Socket, onLine: (line: string) => void, onClose: () => void): void {
  let buffer = '';
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    onClose();
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) onLine(line);
    }
  });
  socket.on('close', close);
  socket.on('error', close);
}

/** Requests by id, each settled by its answer, its timeout, or the connection closing. */
export class PendingRequests<T> {
  private readonly pending = new Map<string, { resolve: (value: T) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();

  add(id: string, timeoutMs: number, label: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${label} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Settles request `id`; false if there is no such request. */
  settle(id: string, outcome: { value: T } | { error: Error }): boolean {
    const entry = this.pending.get(id);
    if (!entry) return false;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if ('error' in outcome) entry.reject(outcome.error);
    else entry.resolve(outcome.value);
    return true;
  }

  rejectAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, { error });
  }
}
