/** Reads a growing log file: its last lines, then new lines as they are appended. */
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { open } from 'node:fs/promises';
import type { LogRequest } from './driver.ts';

const TAIL_WINDOW = 1 << 20;

/** The last `count` lines (none for 0: `slice(-0)` would give them all). */
export function lastLines(lines: string[], count: number): string[] {
  return count <= 0 ? [] : lines.slice(-count);
}

export async function* followFile(path: string, options: LogRequest, signal: AbortSignal): AsyncIterable<string> {
  let position = 0;
  if (existsSync(path)) {
    const size = statSync(path).size;
    const start = Math.max(0, size - TAIL_WINDOW);
    const handle = await open(path, 'r');
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    await handle.close();
    const lines = buffer.toString('utf8').split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    for (const line of lastLines(lines, options.tail)) yield line;
    position = size;
  }
  if (!options.follow) return;
  let partial = '';
  while (!signal.aborted) {
    const size = existsSync(path) ? statSync(path).size : 0;
    if (size > position) {
      const chunk = await new Promise<string>((resolve, reject) => {
        let text = '';
        createReadStream(path, { start: position, end: size - 1, encoding: 'utf8' })
          .on('data', (d) => { text += d; })
          .on('end', () => resolve(text))
          .on('error', reject);
      });
      position = size;
      const lines = (partial + chunk).split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const line of lines) yield line;
      continue;
    }
    await waitForChange(path, signal);
  }
}

/** Resolves when the file changes, after a second at most, or when aborted. */
function waitForChange(path: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let watcher: ReturnType<typeof watch> | undefined;
    const done = () => {
      clearTimeout(timer);
      watcher?.close();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, 1000);
    signal.addEventListener('abort', done, { once: true });
    try {
      if (existsSync(path)) watcher = watch(path, done);
    } catch {
      // polling by the timer is enough
    }
  });
}
