/**
 * How an API replica reaches a host agent: the host's address from the database,
 * over mutual TLS with the replica's certificate, checking that what answers holds
 * that host's certificate from the cluster's authority (whatever address it is
 * at); the agent's refusals are raised again as the same errors. A host that does
 * not answer in time is a refusal too, not a request held for minutes.
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { Agent, type Dispatcher, fetch, type Response } from 'undici';
import { HangarError, type ErrorCode, HTTP_STATUS } from '../domain/errors.ts';
import type { HostRecord } from '../domain/host.ts';
import type { Store } from '../store/store.ts';
import { type ClusterIdentity, identityOf } from '../system/cluster-pki.ts';
import type { AgentError } from './agent-api.ts';

/** How long a host has to connect and to start answering (a stream of logs may then go on). */
const CONNECT_TIMEOUT_MS = 5_000;
const ANSWER_TIMEOUT_MS = 60_000;

export class AgentClient {
  private readonly store: Store;
  private readonly identity: ClusterIdentity;
  /** One TLS client per host: each checks the certificate of that host and no other. */
  private readonly clients = new Map<string, Agent>();

  constructor(store: Store, identity: ClusterIdentity) {
    this.store = store;
    this.identity = identity;
  }

  /** Host `id`, if a replica can reach it; `what` names what lives there, for the error. */
  async host(id: string | undefined, what: string): Promise<HostRecord> {
    const host = id === undefined ? undefined : (await this.store.getHost(id))?.host;
    if (!host?.address) throw new HangarError('invalid_state', `${what} is on host ${id ?? '(none)'}, which this replica cannot reach`);
    return host;
  }

  /** A JSON request to the host; answers the parsed body, or throws the agent's refusal. */
  async call<T>(host: HostRecord, method: string, path: string, body?: unknown): Promise<T> {
    return parse<T>(await this.fetch(host, method, path, body));
  }

  async fetch(host: HostRecord, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    try {
      return await fetch(`https://${host.address}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        dispatcher: this.clientFor(host.id),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw unreachable(host, error);
    }
  }

  /**
   * Bytes from one host to another through this replica, as they come: what `from`
   * answers a GET of `fromPath` is PUT to `to` at `toPath` (Node streams, not web
   * streams: this carries a guest's RAM). Answers what `to` answered.
   */
  async relay<T>(from: HostRecord, fromPath: string, to: HostRecord, toPath: string): Promise<T> {
    const source = await this.request(from, { method: 'GET', path: fromPath });
    if (source.statusCode >= 300) return refused(source.statusCode, await source.body.text());
    const sent = await this.request(to, { method: 'PUT', path: toPath, body: source.body, headers: { 'content-type': 'application/octet-stream' } });
    const text = await sent.body.text();
    if (sent.statusCode >= 300) return refused(sent.statusCode, text);
    return JSON.parse(text) as T;
  }

  private async request(host: HostRecord, options: Omit<Dispatcher.RequestOptions, 'origin'>): Promise<Dispatcher.ResponseData> {
    try {
      return await this.clientFor(host.id).request({ ...options, origin: `https://${host.address}` });
    } catch (error) {
      throw unreachable(host, error);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((client) => client.close()));
  }

  private clientFor(hostId: string): Agent {
    let client = this.clients.get(hostId);
    if (!client) {
      client = new Agent({
        connectTimeout: CONNECT_TIMEOUT_MS,
        headersTimeout: ANSWER_TIMEOUT_MS,
        bodyTimeout: 0,
        connect: {
          ca: this.identity.ca, cert: this.identity.cert, key: this.identity.key, minVersion: 'TLSv1.3',
          // The host is known by its certificate, not by the name or address it answers at.
          checkServerIdentity: (_name: string, peer: PeerCertificate) => checkHost(hostId, peer),
        },
      });
      this.clients.set(hostId, client);
    }
    return client;
  }
}

/** The refusal for a request that never reached `host`. */
function unreachable(host: HostRecord, error: unknown): HangarError {
  const cause = (error as { cause?: Error }).cause;
  return new HangarError('insufficient_capacity', `host ${host.id} (${host.address}) cannot be reached: ${cause?.message ?? (error as Error).message}`);
}

/** Undefined when the certificate is host `hostId`'s; else why not. */
function checkHost(hostId: string, peer: PeerCertificate): Error | undefined {
  const named = identityOf(peer.subjectaltname);
  if (named?.role === 'host' && named.name === hostId) return undefined;
  const raw = peer.raw ? new X509Certificate(peer.raw).subject : '(none)';
  return new Error(`the agent at that address is not host ${hostId} (its certificate names ${named ? `${named.role} ${named.name}` : raw})`);
}

export async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  if (response.ok) return (text ? JSON.parse(text) : undefined) as T;
  return refused(response.status, text);
}

/** Raises the agent's refusal (`status`, body `text`) as the same error. */
function refused(status: number, text: string): never {
  let refusal: Partial<AgentError> | undefined;
  try {
    refusal = text ? (JSON.parse(text) as Partial<AgentError>) : undefined;
  } catch {
    refusal = undefined;
  }
  const code = (refusal?.code && refusal.code in HTTP_STATUS ? refusal.code : 'internal') as ErrorCode;
  throw new HangarError(code, refusal?.error ?? `host agent answered ${status}`, refusal?.hint);
}
