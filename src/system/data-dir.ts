/** The data directory: its lock (one hangar per directory) and the API token kept in it. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TOKEN_FILE = 'api-token';

/** Takes the directory's lock, or throws when a live hangar holds it. Returns the release. */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockFile = join(dataDir, 'hangar.pid');
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new Error(`data directory ${dataDir} is in use by hangar process ${pid}`);
    }
  }
  writeFileSync(lockFile, `${process.pid}\n`);
  return () => {
    try {
      if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) rmSync(lockFile);
    } catch {
      // already gone
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Token {
  value: string;
  source: 'env' | 'file' | 'generated';
  file: string;
}

/** The token from the environment, else the one stored in the data dir, else a new one stored there. */
export function loadOrCreateToken(dataDir: string, fromEnv: string | undefined): Token {
  const file = join(dataDir, TOKEN_FILE);
  if (fromEnv) {
    writeToken(file, fromEnv);
    return { value: fromEnv, source: 'env', file };
  }
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored) return { value: stored, source: 'file', file };
  }
  const value = `hgr_${randomBytes(24).toString('base64url')}`;
  writeToken(file, value);
  return { value, source: 'generated', file };
}

function writeToken(file: string, value: string): void {
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function readStoredToken(dataDir: string): string | undefined {
  const file = join(dataDir, TOKEN_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}
