/**
 * The console's calls to hangar: every one carries the API token in a header (never
 * in a URL). The token lives in this tab's sessionStorage, which no other origin
 * can read and which ends with the tab.
 */
const KEY = 'hangar-token';

export class SignedOut extends Error {}

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  signIn: (token: string) => sessionStorage.setItem(KEY, token),
  signOut: () => sessionStorage.removeItem(KEY),
};

async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const token = session.token();
  if (!token) throw new SignedOut('not signed in');
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.status === 401) {
    session.signOut();
    throw new SignedOut('the token was not accepted');
  }
  if (!response.ok) {
    const text = await response.text();
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? message;
    } catch { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const text = await (await send(method, path, body)).text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string) => call<T>('GET', path);

export async function text(path: string): Promise<string> {
  return (await send('GET', path)).text();
}

export const appPath = (app: string, rest = '') => `/v1/apps/${encodeURIComponent(app)}${rest}`;

/**
 * Follows a stream of Server-Sent Events (with the token in a header, which
 * EventSource cannot send), calling `onEvent` for each; reconnects after a drop
 * until `signal` aborts.
 */
export async function follow(path: string, onEvent: (event: string, data: unknown) => void, signal: AbortSignal, onState: (live: boolean) => void): Promise<void> {
  let delay = 500;
  while (!signal.aborted) {
    try {
      const response = await send('GET', path, undefined, signal);
      onState(true);
      delay = 500;
      const reader = (response.body as ReadableStream<BufferSource>).pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) onEvent(event, JSON.parse(data));
        }
      }
    } catch (error) {
      if (error instanceof SignedOut) throw error;
    }
    onState(false);
    if (signal.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}
