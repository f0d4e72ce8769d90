/**
 * A host's private DNS server: UDP, one question per query, answered from
 * answers.ts. The wire format is dns-packet's; what reaches the answers has been
 * decoded whole, and a packet that cannot be is answered FORMERR (when it has a
 * header to answer) or dropped. Responses are never answered (no loops between
 * servers), every source is held to a rate, and an answer that does not fit the
 * asker's UDP size is sent truncated, for it to ask again over TCP (RFC 7766),
 * which the server takes on the same address and port: length-prefixed messages,
 * a few seconds' idle time, one message's worth of buffering.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import dnsPacket from 'dns-packet';
import { answerQuestion, type Asker, type DnsAnswer, type DnsDirectory } from './answers.ts';

export interface DnsServerOptions {
  /** The machine that asks from `address`, or undefined: someone this server does not answer (REFUSED). */
  askerOf(address: string): Asker | undefined;
  /** What the host knows now, read at each question (kept current by its caller, never by a query). */
  directory(): DnsDirectory;
  /** Answers per second to one source, with as many at once. */
  ratePerSecond?: number;
  now?: () => number;
}

const HEADER_BYTES = 12;
const PLAIN_UDP = 512;
/** The most an EDNS asker is sent, whatever it offers (RFC 9715's advice against fragments). */
const MAX_UDP = 1232;
const RCODES: Record<DnsAnswer['rcode'] | 'FORMERR', number> = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const DEFAULT_RATE = 200;
/** A TCP message's length is two bytes. */
const MAX_TCP = 0xffff;
const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 256;

export class DnsServer {
  private readonly socket: Socket;
  private readonly tcp: Server;
  private readonly options: DnsServerOptions;
  private readonly limiter: RateLimiter;

  private constructor(socket: Socket, tcp: Server, options: DnsServerOptions) {
    this.socket = socket;
    this.tcp = tcp;
    this.options = options;
    this.limiter = new RateLimiter(options.ratePerSecond ?? DEFAULT_RATE, options.now ?? Date.now);
  }

  /** Listens on UDP and TCP at `at` (port 0: a free port, the same for both). */
  static async listen(at: { host: string; port: number }, options: DnsServerOptions): Promise<DnsServer> {
    // Port 0 lets UDP choose; that number may be taken for TCP (another socket's local end): another one, then.
    for (let attempt = 1; ; attempt++) {
      try {
        return await DnsServer.listenOnce(at, options);
      } catch (error) {
        if (at.port !== 0 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 10) throw error;
      }
    }
  }

  private static async listenOnce(at: { host: string; port: number }, options: DnsServerOptions): Promise<DnsServer> {
    const socket = createSocket({ type: isIPv6(at.host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(at.host) });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(at.port, at.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const tcp = createServer();
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: at.host, port: socket.address().port, ipv6Only: isIPv6(at.host) }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      socket.close();
      throw error;
    }
    const server = new DnsServer(socket, tcp, options);
    // A send that fails (the asker went away) concerns that asker only.
    socket.on('error', () => undefined);
    socket.on('message', (message, from) => server.receive(message, from));
    tcp.on('connection', (connection) => server.converse(connection));
    return server;
  }

  address(): { address: string; port: number } {
    return this.socket.address();
  }

  async close(): Promise<void> {
    this.tcp.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private receive(message: Buffer, from: RemoteInfo): void {
    if (!this.limiter.take(from.address)) return;
    const reply = respond(message, this.options.askerOf(from.address), this.options.directory);
    if (reply) this.socket.send(reply, from.port, from.address);
  }

  /** One TCP connection: messages in turn, each as two bytes of length and the message. */
  private converse(connection: TcpSocket): void {
    const source = connection.remoteAddress ?? '';
    let pending = Buffer.alloc(0);
    connection.setTimeout(TCP_IDLE_MS, () => connection.destroy());
    connection.on('error', () => undefined);
    connection.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        if (!this.limiter.take(source)) continue;
        const reply = respond(message, this.options.askerOf(source), this.options.directory, MAX_TCP);
        if (!reply) {
          connection.destroy();
          return;
        }
        const length = Buffer.alloc(2);
        length.writeUInt16BE(reply.length);
        connection.write(Buffer.concat([length, reply]));
      }
    });
  }
}

/**
 * The bytes that answer `message` from `asker`, or undefined when nothing should;
 * `limit`: the most bytes the answer may take (over UDP, the asker's size).
 */
export function respond(message: Buffer, asker: Asker | undefined, directory: () => DnsDirectory, limit?: number): Buffer | undefined {
  if (message.length < HEADER_BYTES || (message[2] as number) & 0x80) return undefined;
  // Opcodes other than QUERY (0): inverse queries, status, notify, update.
  if (((message[2] as number) >> 3) & 0xf) return bareHeader(message, RCODES.NOTIMP);
  let query: dnsPacket.Packet;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return bareHeader(message, RCODES.FORMERR);
  }
  const flags = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const opt = query.additionals?.find((record) => record.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  const reply = (rcode: number, answers: dnsPacket.Answer[] = []): Buffer => fit({
    id: query.id, type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER | flags | rcode, questions: query.questions, answers,
    // An EDNS asker is told the size this server sends (RFC 6891).
    ...(opt ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: MAX_UDP } as dnsPacket.Answer] } : {}),
  }, limit ?? udpSize(opt));
  const [question] = query.questions ?? [];
  if (query.questions?.length !== 1 || !question) return reply(RCODES.FORMERR);
  if ((question.class ?? 'IN') !== 'IN' || !asker) return reply(RCODES.REFUSED);
  const answered = answerQuestion({ name: question.name, type: question.type }, asker, directory());
  return reply(RCODES[answered.rcode], answered.answers.map((record): dnsPacket.Answer => (record.type === 'TXT'
    ? { name: question.name, type: 'TXT', ttl: record.ttl, data: chunks(record.data) }
    : { name: question.name, type: 'AAAA', ttl: record.ttl, data: record.data })));
}

/** A header that echoes the query's id and opcode with `rcode`, and nothing else. */
function bareHeader(message: Buffer, rcode: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  message.copy(header, 0, 0, 2);
  header[2] = 0x80 | ((message[2] as number) & 0x79);
  header[3] = rcode;
  return header;
}

/** What an asker takes over UDP: 512 bytes, or the size its OPT record offers, up to MAX_UDP. */
function udpSize(opt: { udpPayloadSize?: number } | undefined): number {
  return Math.min(MAX_UDP, Math.max(PLAIN_UDP, opt?.udpPayloadSize ?? PLAIN_UDP));
}

/** The response, or its header and question alone with TC set when it is longer than `limit`. */
function fit(response: dnsPacket.Packet, limit: number): Buffer {
  const whole = dnsPacket.encode(response);
  if (whole.length <= limit) return whole;
  return dnsPacket.encode({ ...response, flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
}

/** A TXT text as the strings of at most 255 bytes the wire holds. */
function chunks(text: string): Buffer[] {
  const bytes = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 255) parts.push(bytes.subarray(at, at + 255));
  return parts.length > 0 ? parts : [Buffer.alloc(0)];
}

/** A token bucket per source: `rate` a second, as many at once; sources gone quiet are forgotten. */
class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly rate: number;
  private readonly now: () => number;

  constructor(rate: number, now: () => number) {
    this.rate = rate;
    this.now = now;
  }

  take(source: string): boolean {
    const now = this.now();
    if (this.buckets.size > 10_000) {
      for (const [key, bucket] of this.buckets) if (now - bucket.at > 1_000) this.buckets.delete(key);
    }
    const bucket = this.buckets.get(source) ?? { tokens: this.rate, at: now };
    bucket.tokens = Math.min(this.rate, bucket.tokens + ((now - bucket.at) / 1_000) * this.rate);
    bucket.at = now;
    this.buckets.set(source, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
