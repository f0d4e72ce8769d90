/**
 * The host end of the channel to hangar-init (virtio-serial port `hangar.0`,
 * a unix socket on the host): requests with ids and their answers, and the
 * init's events (ready, started, exited, failed). Protocol: src/guest/init/protocol.md.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface GuestExit {
  exitCode: number;
  /** The signal that ended the process, or -1. */
  signal: number;
  oomKilled: boolean;
}

export interface GuestExec {
  stdout: string;
  stderr: string;
  exitCode: number;
  signal: number;
}

export interface GuestProcess {
  pid: number;
  rssKb: number;
  utimeMs: number;
  stimeMs: number;
  command: string;
  cwd: string;
}

type Events = { ready: []; started: [number]; exited: [GuestExit]; failed: [string]; close: [] };

const decode = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString('utf8');
/** Empty fields travel as `-` (see protocol.md). */
const encode = (value: string) => (value === '' ? '-' : Buffer.from(value).toString('base64'));

export class AgentChannel extends EventEmitter<Events> {
  private readonly socket: Socket;
  private readonly pending = new Map<string, { resolve: (words: string[]) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private buffer = '';
  private nextId = 1;
  private closed = false;

  private constructor(socket: Socket) {
    super();
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => this.onClose());
  }

  static connect(path: string, timeoutMs = 5000): Promise<AgentChannel> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`agent channel: no connection to ${path}`)); }, timeoutMs);
      socket.once('connect', () => { clearTimeout(timer); resolve(new AgentChannel(socket)); });
      socket.once('error', (error) => { clearTimeout(timer); reject(error); });
    });
  }

  exec(command: string[], options: { stdin?: string; timeoutMs: number }): Promise<GuestExec> {
    const args = [String(options.timeoutMs), encode(options.stdin ?? ''), ...command.map(encode)];
    return this.request('exec', args, options.timeoutMs + 5000).then((words) => ({
      exitCode: Number(words[2]), signal: Number(words[3]), stdout: decode(words[4]), stderr: decode(words[5]),
    }));
  }

  async ps(timeoutMs = 5000): Promise<GuestProcess[]> {
    const words = await this.request('ps', [], timeoutMs);
    return decode(words[2]).split('\n').filter(Boolean).map((line) => {
      const [pid, rss, utime, stime, command, cwd] = line.split('\t');
      return { pid: Number(pid), rssKb: Number(rss), utimeMs: Number(utime), stimeMs: Number(stime), command: command ?? '', cwd: cwd ?? '' };
    });
  }

  async signal(signal: number, timeoutMs = 5000): Promise<void> {
    await this.request('signal', [String(signal)], timeoutMs);
  }

  /** Sends `signal` to the process; init sends SIGKILL after `graceMs`. */
  async stop(signal: number, graceMs: number, timeoutMs = 5000): Promise<void> {
    await this.request('stop', [String(signal), String(graceMs)], timeoutMs);
  }

  async sync(timeoutMs = 30_000): Promise<void> {
    await this.request('sync', [], timeoutMs);
  }

  async setTime(unixMs: number, timeoutMs = 5000): Promise<void> {
    await this.request('settime', [(BigInt(unixMs) * 1_000_000n).toString()], timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  private request(verb: string, args: string[], timeoutMs: number): Promise<string[]> {
    if (this.closed) return Promise.reject(new Error(`agent channel closed (${verb})`));
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`agent: ${verb} got no answer within ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(`${[verb, id, ...args].join(' ')}\n`);
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const words = this.buffer.slice(0, newline).trim().split(' ');
      this.buffer = this.buffer.slice(newline + 1);
      this.onLine(words);
    }
  }

  private onLine(words: string[]): void {
    const [verb, first] = words;
    switch (verb) {
      case 'ready': this.emit('ready'); return;
      case 'started': this.emit('started', Number(first)); return;
      case 'failed': this.emit('failed', decode(first)); return;
      case 'exited': this.emit('exited', { exitCode: Number(words[1]), signal: Number(words[2]), oomKilled: words[3] === '1' }); return;
    }
    const pending = first === undefined ? undefined : this.pending.get(first);
    if (!pending) return;
    this.pending.delete(first as string);
    clearTimeout(pending.timer);
    if (verb === 'error') pending.reject(new Error(`agent: ${decode(words[2])}`));
    else pending.resolve(words);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error('agent channel closed'));
      this.pending.delete(id);
    }
    this.emit('close');
  }
}
