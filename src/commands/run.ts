/**
 * hangar's short commands (ip, nft, qemu-img, cp, …), started by a small Node
 * process of its own, the command runner (runner-process.ts).
 *
 * Why not execFile here: starting a command forks the process that starts it, and
 * a fork copies that process's page tables. From a hangar holding a few hundred MB
 * that took ~20 ms a command on a nested VM, and hangar's event loop stood still
 * meanwhile (its proxy, its QMP sockets, a move's copy). From the runner it takes
 * a few ms, and hangar's loop runs on. The runner is forked once, when the first
 * command is asked for, and again if it ever exits.
 *
 * What `run` gives back is what `promisify(execFile)` would: `{ stdout, stderr }`,
 * or an error with `code`, `signal`, `stdout` and `stderr`.
 */
import { type ChildProcess, fork } from 'node:child_process';

export interface RunOptions {
  /** Killed (SIGTERM) after this many ms. */
  timeout?: number;
  signal?: AbortSignal;
  /** Written to the command's standard input, which is then closed (it is closed at once without). */
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes of standard output or error beyond which the command is killed (default 64 MiB). */
  maxBuffer?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** hangar → runner. */
export type RunnerRequest =
  | { id: number; file: string; args: string[]; timeout?: number; input?: string; env: NodeJS.ProcessEnv; maxBuffer: number }
  | { cancel: number };

/** runner → hangar: a command started (its pid), or ended. */
export type RunnerMessage = { started: number; pid: number } | RunnerReply;

export interface RunnerReply {
  id: number;
  stdout: string;
  stderr: string;
  failure?: { message: string; code?: number | string; signal?: string; killed?: boolean };
}

export interface CommandError extends Error {
  code?: number | string;
  signal?: string;
  killed?: boolean;
  stdout: string;
  stderr: string;
}

const DEFAULT_MAX_BUFFER = 64 << 20;

interface Pending {
  resolve(result: RunResult): void;
  reject(error: Error): void;
  /** The command's process, once the runner has started it. */
  pid?: number;
}

class Runner {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private ended = false;
  private readonly onEnd: () => void;

  constructor(onEnd: () => void) {
    this.onEnd = onEnd;
    // Nothing of hangar's own Node flags (a test runner's, an inspector port, a preloaded agent): each command gets hangar's environment as it is when asked.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    this.child = fork(new URL('./runner-process.ts', import.meta.url), [], { execArgv: [], env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message: RunnerMessage) => {
      if ('started' in message) {
        const waiting = this.pending.get(message.started);
        if (waiting) waiting.pid = message.pid;
      } else {
        this.settle(message);
      }
    });
    // A fork that failed (EMFILE, EAGAIN…) has no pid and never exits: it ends here, and the next command forks again.
    this.child.on('error', (error) => {
      if (this.child.pid === undefined) this.end(`could not start: ${error.message}`);
    });
    this.child.on('exit', (code, signal) => this.end(`exited (${signal ?? `code ${code}`})`));
    this.idle();
  }

  run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    const id = this.nextId++;
    return new Promise<RunResult>((resolve, reject) => {
      const onAbort = () => {
        this.send({ cancel: id });
        this.finish(id);
        reject(abortError(options.signal as AbortSignal));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => options.signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (result) => { done(); resolve(result); },
        reject: (error) => { done(); reject(error); },
      });
      this.busy();
      const request = { id, file, args: [...args], timeout: options.timeout, input: options.input, env: options.env ?? process.env, maxBuffer: options.maxBuffer ?? DEFAULT_MAX_BUFFER };
      this.send(request, (error) => this.fail(id, error));
    });
  }

  private settle(reply: RunnerReply): void {
    if (!reply.failure) {
      this.pending.get(reply.id)?.resolve({ stdout: reply.stdout, stderr: reply.stderr });
      this.finish(reply.id);
      return;
    }
    const { message, ...facts } = reply.failure;
    this.fail(reply.id, Object.assign(new Error(message), facts, { stdout: reply.stdout, stderr: reply.stderr }) as CommandError);
  }

  private fail(id: number, error: Error): void {
    this.pending.get(id)?.reject(error);
    this.finish(id);
  }

  private send(request: RunnerRequest, onError?: (error: Error) => void): void {
    if (this.ended) {
      onError?.(new Error('hangar\'s command runner has ended'));
      return;
    }
    try {
      this.child.send(request, (error) => {
        if (error) onError?.(error);
      });
    } catch (error) {
      onError?.(error as Error);
    }
  }

  /**
   * The runner is gone: its commands are killed (orphaned, they would run on after
   * their callers were told they ended) and failed, and the next command forks
   * another runner.
   */
  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    const error = new Error(`hangar's command runner ${why} while commands ran`);
    for (const { pid } of this.pending.values()) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It ended on its own.
      }
    }
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
    this.idle();
  }

  private finish(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.idle();
  }

  /** While commands run, the runner keeps hangar alive; idle, it does not (a CLI command ends when its work does). */
  private busy(): void {
    this.child.ref();
    this.child.channel?.ref();
  }

  private idle(): void {
    this.child.unref();
    this.child.channel?.unref();
  }
}

let runner: Runner | undefined;

/** Runs `file` with `args` (no shell), by the command runner. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  try {
    const current = runner ?? new Runner(() => { if (runner === current) runner = undefined; });
    runner = current;
    return current.run(file, args, options);
  } catch (error) {
    return Promise.reject(error);
  }
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
