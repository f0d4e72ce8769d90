/** A small client for hangar's (and Fly's) Machines API, as the CLI uses it. */

export class ApiError extends Error {
  readonly status: number;
  readonly hint: string | undefined;
  constructor(status: number, message: string, hint?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.hint = hint;
  }
}

export interface ApiClientOptions {
  baseUrl: string;
  token: string | undefined;
  timeoutMs?: number;
}

export class ApiClient {
  private readonly options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.options = options;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  get token(): string | undefined {
    return this.options.token;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await this.send(method, path, body, headers, AbortSignal.timeout(this.options.timeoutMs ?? 120_000));
    const text = await response.text();
    return (text ? safeJson(text) : undefined) as T;
  }

  /** Streams a text answer line by line (a GET, or a POST of `body`), with no time limit: a follower may wait long. */
  async *lines(path: string, body?: unknown): AsyncIterable<string> {
    const response = await this.send(body === undefined ? 'GET' : 'POST', path, body);
    if (!response.body) return;
    let partial = '';
    for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      yield* parts;
    }
    if (partial) yield partial;
  }

  /** Sends one request; an unreachable server or an error answer becomes an ApiError. */
  private async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.baseUrl), {
        method,
        headers: {
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ApiError(0, `cannot reach hangar at ${this.options.baseUrl} (${cause})`, 'is `hangar serve` running? set HANGAR_API_URL to point at it');
    }
    if (!response.ok) {
      const text = await response.text();
      const payload = (text ? safeJson(text) : {}) as { error?: string; hint?: string };
      throw new ApiError(response.status, payload.error ?? `${response.status} ${response.statusText}`, payload.hint);
    }
    return response;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T = unknown>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', path, body, headers);
  }

  delete<T = unknown>(path: string, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('DELETE', path, undefined, headers);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: text };
  }
}
