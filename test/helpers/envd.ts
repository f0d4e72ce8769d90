/**
 * hangar-envd, the sandbox agent, run as a process of this host (as E2B tests its
 * envd): the SDK's debug mode talks to it at localhost:49983.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const ENVD_BINARY = join(import.meta.dirname, '../../.tools/guest/hangar-envd');
export const ENVD_PORT = 49983;

export interface RunningEnvd {
  url: string;
  /** Its control socket (`hangar-envd -init -control` sends there). */
  control: string;
  stop(): Promise<void>;
}

/** Starts the agent on `port` (the SDK's debug mode needs 49983; other tests take a free one). */
export async function startEnvd(env: Record<string, string> = {}, port = ENVD_PORT): Promise<RunningEnvd> {
  if (!existsSync(ENVD_BINARY)) throw new Error(`${ENVD_BINARY} is missing: run scripts/setup-guest.sh`);
  const control = join(mkdtempSync(join(tmpdir(), 'hangar-envd-control-')), 'control.sock');
  // Commands get an empty HOME: their login shell then reads none of this host's
  // profiles (which may do anything: a pyenv rehash here waits a minute on the lock
  // a shell killed mid-rehash left).
  const home = mkdtempSync(join(tmpdir(), 'hangar-envd-home-'));
  const envs = { HOME: home, ...(env.HANGAR_ENVD_ENVS ? JSON.parse(env.HANGAR_ENVD_ENVS) as Record<string, string> : {}) };
  const child: ChildProcess = spawn(ENVD_BINARY, ['-listen', `127.0.0.1:${port}`, '-control', control], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, HANGAR_ENVD_ENVS: JSON.stringify(envs) }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let said = '';
  child.stderr?.on('data', (chunk) => { said += chunk; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`hangar-envd exited: ${said}`);
    const up = await fetch(`${url}/health`).then((reply) => reply.status === 204, () => false);
    if (up) break;
    if (i > 200) throw new Error(`hangar-envd did not answer: ${said}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    url,
    control,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(home, { recursive: true, force: true });
      rmSync(dirname(control), { recursive: true, force: true });
    },
  };
}
