/**
 * hangar's short commands (ip, nft, qemu-img, cp, …), started by a small Node
 * process of its own, the command runner (command-runner.ts).
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
  | { id: number; file: string; args: string[]; timeout?: number; input?: string; env?: NodeJS.ProcessEnv; maxBuffer: number }
  | { cancel: number };

/** runner → hangar. */
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
}

class Runner {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private exited = false;

  constructor(onExit: () => void) {
    // No execArgv of hangar's own (a test runner's flags, an inspector port); the environment's NODE_OPTIONS still apply.
    this.child = fork(new URL('./runner-process.ts', import.meta.url), [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply: RunnerReply) => this.settle(reply));
    this.child.on('error', () => undefined);
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      onExit();
      const error = new Error(`hangar's command runner exited (${signal ?? `code ${code}`}) while commands ran`);
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
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
      this.send({ id, file, args: [...args], timeout: options.timeout, input: options.input, env: options.env, maxBuffer: options.maxBuffer ?? DEFAULT_MAX_BUFFER });
    });
  }

  private settle(reply: RunnerReply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.finish(reply.id);
    if (!reply.failure) {
      waiting.resolve({ stdout: reply.stdout, stderr: reply.stderr });
      return;
    }
    const { message, ...facts } = reply.failure;
    waiting.reject(Object.assign(new Error(message), facts, { stdout: reply.stdout, stderr: reply.stderr }) as CommandError);
  }

  private send(request: RunnerRequest): void {
    if (this.exited) return;
    this.child.send(request, (error) => {
      if (error && 'id' in request) this.pending.get(request.id)?.reject(error);
    });
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
  runner ??= new Runner(() => { runner = undefined; });
  return runner.run(file, args, options);
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
