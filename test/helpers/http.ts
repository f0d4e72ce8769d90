/** Polls a URL until it answers: a machine's process may run before its server listens. */
import { setTimeout as sleep } from 'node:timers/promises';

/** The body of the first answer, or '' if none came in `attempts` tries. */
export async function textWhenUp(url: string, options: { attempts?: number; timeoutMs?: number } = {}): Promise<string> {
  for (let attempt = 0; attempt < (options.attempts ?? 100); attempt++) {
    const body = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 2000) }).then((r) => r.text(), () => '');
    if (body) return body;
    await sleep(100);
  }
  return '';
}
