/** Runs `./hangar serve` as a real child process on a free loopback port. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultMemoryDir } from '../../src/vmm/qemu/machine-files.ts';
import { removeNamespace } from './network.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const HANGAR = `${ROOT}hangar`;

export interface ServerProcess {
  url: string;
  /** The edge proxy. */
  proxyUrl: string;
  /** The edge proxy's TLS listener. */
  proxyTlsUrl?: string;
  token: string;
  child: ChildProcess;
  /** Resolves when the process has ended, with the signal that ended it, if one did. */
  exited: Promise<NodeJS.Signals | null>;
  output(): string;
  /** Asks it to stop (SIGTERM) and waits. */
  stop(): Promise<void>;
  /** Kills it outright (SIGKILL) and waits. */
  kill(): Promise<void>;
}

/** Every server started here is killed when the test process exits, even after a failed assertion. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** 100 host ports for apps' public ports, somewhere in 21000-28999, so that servers run one after another rarely meet. */
function randomPortRange(): string {
  const first = 21_000 + 100 * Math.floor(Math.random() * 80);
  return `${first}-${first + 99}`;
}

export interface StartOptions {
  /** How long it may take to come up and print its addresses (20 s unless told). */
  startTimeoutMs?: number;
}

export async function startServerProcess(dataDir: string, token: string, extraArgs: string[] = [], env: Record<string, string> = {}, options: StartOptions = {}): Promise<ServerProcess> {
  const child = spawn(HANGAR, ['serve', '--data-dir', dataDir, '--api-listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0',
    '--proxy-tls-listen', '127.0.0.1:0', '--proxy-ports', randomPortRange(), '--log-level', 'warn', ...extraArgs], {
    env: { ...process.env, HANGAR_API_TOKEN: token, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // Nothing of the child keeps the test process alive once its tests are done.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  let output = '';
  child.stdout?.on('data', (chunk) => { output += chunk; });
  child.stderr?.on('data', (chunk) => { output += chunk; });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const [url, proxyUrl, proxyTlsUrl] = await new Promise<[string, string, string | undefined]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hangar serve did not start:\n${output}`)), options.startTimeoutMs ?? 20_000);
    const check = () => {
      const api = /hangar (http:\/\/[\d.:]+)/.exec(output);
      const proxy = /proxy (http:\/\/[\d.:]+)/.exec(output);
      // The token line comes after every address.
      if (api && proxy && /API token/.test(output)) {
        clearTimeout(timer);
        resolve([api[1] as string, proxy[1] as string, /proxy TLS (https:\/\/[\d.:]+)/.exec(output)?.[1]]);
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`hangar serve exited (${code}):\n${output}`)));
  });
  return {
    url,
    proxyUrl,
    proxyTlsUrl,
    token,
    child,
    exited,
    output: () => output,
    async stop() {
      child.ref();
      child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      child.ref();
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A fetch-based JSON call with the token. */
export async function request(server: { url: string; token: string }, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * Stops a `--driver qemu` server and removes what it leaves on the host: its VMs
 * (they outlive hangar by design, so a failed run must not leave them behind) and
 * the RAM files of its machines, and its network namespace (by its veth: the routes and addresses of other hangars'
 * namespaces are never touched).
 */
export async function cleanUpRealServer(server: ServerProcess | undefined, dataDir: string, netns: string): Promise<void> {
  await server?.stop().catch(() => undefined);
  try { execFileSync('pkill', ['-KILL', '-f', join(dataDir, 'machines')], { stdio: 'ignore' }); } catch { /* none left */ }
  // The guests' RAM lives in memory, outside the data directory.
  rmSync(defaultMemoryDir(join(dataDir, 'machines')), { recursive: true, force: true });
  // Forks' frozen RAM is in a ramfs of its own (src/vmm/qemu/fork-memory.ts).
  const forks = `${defaultMemoryDir(join(dataDir, 'machines'))}.forks`;
  try { execFileSync('umount', [forks], { stdio: 'ignore' }); } catch { /* not mounted */ }
  rmSync(forks, { recursive: true, force: true });
  await removeNamespace(netns);
}
