/**
 * A small QMP client: connects to QEMU's unix control socket, negotiates
 * capabilities, sends commands (each with an id and a timeout) and passes
 * asynchronous events to listeners. Typed for the commands hangar uses.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { connectUnix, PendingRequests, readLines } from './line-socket.ts';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** The commands hangar sends and what each returns. */
export interface QmpCommands {
  'qmp_capabilities': { args: Record<string, never>; result: Record<string, never> };
  'query-status': { args: Record<string, never>; result: { running: boolean; status: string } };
  'stop': { args: Record<string, never>; result: Record<string, never> };
  'cont': { args: Record<string, never>; result: Record<string, never> };
  'quit': { args: Record<string, never>; result: Record<string, never> };
  'system_powerdown': { args: Record<string, never>; result: Record<string, never> };
  'balloon': { args: { value: number }; result: Record<string, never> };
  'query-balloon': { args: Record<string, never>; result: { actual: number } };
  'migrate-set-capabilities': { args: { capabilities: Array<{ capability: string; state: boolean }> }; result: Record<string, never> };
  'migrate': { args: { uri: string }; result: Record<string, never> };
  'migrate-incoming': { args: { uri: string }; result: Record<string, never> };
  'migrate_cancel': { args: Record<string, never>; result: Record<string, never> };
  'query-migrate': { args: Record<string, never>; result: { status?: string; 'error-desc'?: string } };
}

export class QmpError extends Error {
  readonly errorClass: string;
  constructor(errorClass: string, description: string) {
    super(`QMP ${errorClass}: ${description}`);
    this.name = 'QmpError';
    this.errorClass = errorClass;
  }
}

export class QmpClient extends EventEmitter<{ event: [QmpEvent]; close: [] }> {
  private readonly socket: Socket;
  private readonly pending = new PendingRequests<unknown>();
  private nextId = 1;
  private closed = false;
  private greetingWaiter: ((ok: boolean) => void) | undefined;

  private constructor(socket: Socket) {
    super();
    this.socket = socket;
    readLines(socket, (line) => this.onMessage(JSON.parse(line) as Record<string, unknown>), () => this.onClose());
  }

  /** Connects, reads the greeting and enters command mode. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const client = new QmpClient(await connectUnix(path, timeoutMs, 'QMP'));
    await client.greeting(timeoutMs);
    await client.execute('qmp_capabilities', {}, timeoutMs);
    return client;
  }

  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('QMP: no greeting')), timeoutMs);
      this.greetingWaiter = (ok) => {
        clearTimeout(timer);
        if (ok) resolve();
        else reject(new Error('QMP: connection closed before the greeting'));
      };
    });
  }

  execute<K extends keyof QmpCommands>(command: K, args: QmpCommands[K]['args'], timeoutMs = 10_000): Promise<QmpCommands[K]['result']> {
    if (this.closed) return Promise.reject(new Error(`QMP: connection closed (sending ${command})`));
    const id = this.nextId++;
    const answer = this.pending.add(String(id), timeoutMs, `QMP: ${command}`) as Promise<QmpCommands[K]['result']>;
    const message = Object.keys(args).length ? { execute: command, arguments: args, id } : { execute: command, id };
    this.socket.write(`${JSON.stringify(message)}\n`);
    return answer;
  }

  /** Resolves with the first event named `name` (that `match` accepts), or rejects after `timeoutMs`. */
  waitForEvent(name: string, timeoutMs: number, match: (event: QmpEvent) => boolean = () => true): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.off('event', listener); reject(new Error(`QMP: no ${name} event within ${timeoutMs} ms`)); }, timeoutMs);
      const listener = (event: QmpEvent) => {
        if (event.event !== name || !match(event)) return;
        clearTimeout(timer);
        this.off('event', listener);
        resolve(event);
      };
      this.on('event', listener);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onMessage(message: Record<string, unknown>): void {
    if ('QMP' in message) {
      this.greetingWaiter?.(true);
      this.greetingWaiter = undefined;
      return;
    }
    if (typeof message.event === 'string') {
      this.emit('event', message as unknown as QmpEvent);
      return;
    }
    if (typeof message.id !== 'number') return;
    if ('error' in message) {
      const error = message.error as { class: string; desc: string };
      this.pending.settle(String(message.id), { error: new QmpError(error.class, error.desc) });
    } else {
      this.pending.settle(String(message.id), { value: message.return });
    }
  }

  private onClose(): void {
    this.closed = true;
    this.greetingWaiter?.(false);
    this.pending.rejectAll(new Error('QMP: connection closed'));
    this.emit('close');
  }
}
