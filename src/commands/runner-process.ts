/**
 * The command runner: a small Node process, forked by hangar (run.ts), that
 * starts hangar's short commands and sends back what they printed. It holds next
 * to nothing, so forking it is cheap; it exits when hangar does.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import type { RunnerMessage, RunnerRequest } from './run.ts';

const running = new Map<number, ChildProcess>();

process.on('message', (request: RunnerRequest) => {
  if ('cancel' in request) {
    running.get(request.cancel)?.kill();
    running.delete(request.cancel);
    return;
  }
  const { id, file, args, timeout, input, env, maxBuffer } = request;
  const reply = (message: RunnerMessage) => {
    running.delete(id);
    say(message);
  };
  try {
    const child = execFile(file, args, { timeout, env, maxBuffer }, (error, stdout, stderr) => {
      if (!error) return reply({ id, stdout, stderr });
      const { code, signal, killed } = error as { code?: number | string; signal?: string; killed?: boolean };
      reply({ id, stdout, stderr, failure: { message: error.message, code: code ?? undefined, signal: signal ?? undefined, killed } });
    });
    running.set(id, child);
    if (child.pid !== undefined) say({ started: id, pid: child.pid });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  } catch (error) {
    reply({ id, stdout: '', stderr: '', failure: { message: (error as Error).message } });
  }
});

/** To hangar, while it is there to hear it. */
function say(message: RunnerMessage): void {
  if (process.connected) process.send?.(message, () => undefined);
}

// hangar gone (exited, crashed, killed): nothing is left to run for, and with its commands killed this process ends.
process.on('disconnect', () => {
  for (const child of running.values()) child.kill();
});
