/**
 * How an API replica reaches a host agent: the host's address from the database,
 * the cluster secret on every request, and the agent's refusals raised again as
 * the same errors.
 */
import { HangarError, type ErrorCode, HTTP_STATUS } from '../domain/errors.ts';
import type { HostRecord } from '../domain/host.ts';
import type { Store } from '../store/store.ts';
import type { AgentError } from './agent-api.ts';

export class AgentClient {
  private readonly store: Store;
  private readonly secret: string;

  constructor(store: Store, secret: string) {
    this.store = store;
    this.secret = secret;
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
      return await fetch(`http://${host.address}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.secret}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new HangarError('insufficient_capacity', `host ${host.id} (${host.address}) cannot be reached: ${(error as Error).message}`);
    }
  }
}

export async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (response.ok) return parsed as T;
  const refusal = parsed as Partial<AgentError> | undefined;
  const code = (refusal?.code && refusal.code in HTTP_STATUS ? refusal.code : 'internal') as ErrorCode;
  throw new HangarError(code, refusal?.error ?? `host agent answered ${response.status}`, refusal?.hint);
}
