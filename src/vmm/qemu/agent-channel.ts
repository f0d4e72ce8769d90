/**
 * The host end of the channel to hangar-init (virtio-serial port `hangar.0`,
 * a unix socket on the host): requests with ids and their answers, and the
 * init's events (ready, started, exited, failed). Protocol: src/guest/init/protocol.md.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { connectUnix, PendingRequests, readLines } from './line-socket.ts';

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

/** What makes a fork's child itself: see `forked` in protocol.md. */
export interface ForkIdentity {
  hostname: string;
  bootId: string;
  /** Fresh bytes from the host for the guest's RNG. */
  entropy: Buffer;
  /** The interface, its new MAC, and `ipv6/prefix ipv6-gateway ipv4/prefix ipv4-gateway` (`-` for none). */
  net?: { ifname: string; mac: string; addresses: [string, string, string, string] };
}

type Events = {
  ready: []; started: [number]; exited: [GuestExit]; failed: [string]; close: [];
  /** A connection to the guest's /.fly/api opened, sent bytes, or closed. */
  'api-open': [number]; 'api-data': [number, Buffer]; 'api-close': [number];
};

const decode = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString('utf8');
/** Empty fields travel as `-` (see protocol.md). */
const encode = (value: string) => (value === '' ? '-' : Buffer.from(value).toString('base64'));

export class AgentChannel extends EventEmitter<Events> {
  private readonly socket: Socket;
  private readonly pending = new PendingRequests<string[]>();
  private nextId = 1;
  private closed = false;

  private constructor(socket: Socket) {
    super();
    this.socket = socket;
    readLines(socket, (line) => this.onLine(line.split(' ')), () => this.onClose());
  }

  static async connect(path: string, timeoutMs = 5000): Promise<AgentChannel> {
    return new AgentChannel(await connectUnix(path, timeoutMs, 'agent channel'));
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

  /** Stops every process in the guest but init (for a fork's save); `thaw` continues them. */
  async freeze(timeoutMs = 5000): Promise<void> {
    await this.request('freeze', [], timeoutMs);
  }

  async thaw(timeoutMs = 5000): Promise<void> {
    await this.request('thaw', [], timeoutMs);
  }

  /** In a fork's child (its processes still frozen): takes on its own identity, then lets its processes go on. */
  async becomeFork(identity: ForkIdentity, timeoutMs = 10_000): Promise<void> {
    const net = identity.net ? [identity.net.ifname, identity.net.mac, ...identity.net.addresses] : [];
    await this.request('forked', [encode(identity.hostname), encode(identity.bootId), identity.entropy.toString('base64'), ...net], timeoutMs);
  }

  /** In a machine resumed on another host: takes the addresses that host gave it. */
  async renumber(net: NonNullable<ForkIdentity['net']>, timeoutMs = 10_000): Promise<void> {
    await this.request('renumber', [net.ifname, net.mac, ...net.addresses], timeoutMs);
  }

  /** Bytes for a /.fly/api connection in the guest. */
  apiSend(connection: number, data: Buffer): void {
    if (!this.closed) this.socket.write(`api-data ${connection} ${data.length ? data.toString('base64') : '-'}\n`);
  }

  /** The host is done writing to a /.fly/api connection. */
  apiClose(connection: number): void {
    if (!this.closed) this.socket.write(`api-close ${connection}\n`);
  }

  close(): void {
    this.socket.destroy();
  }

  private request(verb: string, args: string[], timeoutMs: number): Promise<string[]> {
    if (this.closed) return Promise.reject(new Error(`agent channel closed (${verb})`));
    const id = String(this.nextId++);
    const answer = this.pending.add(id, timeoutMs, `agent: ${verb}`);
    this.socket.write(`${[verb, id, ...args].join(' ')}\n`);
    return answer;
  }

  private onLine(words: string[]): void {
    const [verb, first] = words;
    switch (verb) {
      case 'ready': this.emit('ready'); return;
      case 'started': this.emit('started', Number(first)); return;
      case 'failed': this.emit('failed', decode(first)); return;
      case 'exited': this.emit('exited', { exitCode: Number(words[1]), signal: Number(words[2]), oomKilled: words[3] === '1' }); return;
      case 'api-open': this.emit('api-open', Number(first)); return;
      case 'api-data': this.emit('api-data', Number(first), Buffer.from(words[2] === '-' ? '' : words[2] ?? '', 'base64')); return;
      case 'api-close': this.emit('api-close', Number(first)); return;
    }
    if (first === undefined) return;
    this.pending.settle(first, verb === 'error' ? { error: new Error(`agent: ${decode(words[2])}`) } : { value: words });
  }

  private onClose(): void {
    this.closed = true;
    this.pending.rejectAll(new Error('agent channel closed'));
    this.emit('close');
  }
}
