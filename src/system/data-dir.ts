/** The data directory: its lock (one hangar per directory), the API token and the network identity kept in it. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkIdentity } from '../network/identity.ts';
import { formatHostNumber, formatIpv4Range, parseHostNumber, parseIpv4Range } from '../network/layout.ts';

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

/**
 * Refuses a token flyctl would not send as it is: one it takes for a Fly macaroon
 * (fm1r_, fm1a_, fm2_: dropped when it does not decode) or splits (a comma), and
 * one with white space, which no header carries whole.
 */
export function checkTokenForm(token: string, from: string): void {
  if (/^(fm1r_|fm1a_|fm2_)/.test(token) || /[,\s]/.test(token)) {
    throw new Error(`the API token ${from} cannot be used: flyctl drops a token that starts with fm1r_, fm1a_ or fm2_ `
      + '(it takes it for a Fly macaroon) and splits one at commas; no token may hold white space. Choose another (or remove it to have one made)');
  }
}

/** The token from the environment, else the one stored in the data dir, else a new one stored there. */
export function loadOrCreateToken(dataDir: string, fromEnv: string | undefined): Token {
  const file = join(dataDir, TOKEN_FILE);
  if (fromEnv) {
    checkTokenForm(fromEnv, 'in HANGAR_API_TOKEN');
    writeToken(file, fromEnv);
    return { value: fromEnv, source: 'env', file };
  }
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored) {
      checkTokenForm(stored, `in ${file}`);
      return { value: stored, source: 'file', file };
    }
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

export const INSTANCE_FILE = 'instance-id';

/**
 * This data directory's instance id, made at its first start: the process that
 * runs on it holds its host under that id, so that two processes on two data
 * directories (or two servers) cannot both pass for one host. A file that holds
 * no id of the right form is replaced.
 */
export function loadOrCreateInstanceId(dataDir: string): string {
  const file = join(dataDir, INSTANCE_FILE);
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (/^i-[0-9a-f]{16}$/.test(stored)) return stored;
  }
  const id = `i-${randomBytes(8).toString('hex')}`;
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

export const NETWORK_FILE = 'network.json';

/** The host number and IPv4 range this data directory's machines were given (absent before the first qemu start). */
export function readNetworkIdentity(dataDir: string): NetworkIdentity | undefined {
  const file = join(dataDir, NETWORK_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { hostNumber?: unknown; ipv4Range?: unknown };
    if (typeof stored.hostNumber !== 'string' || typeof stored.ipv4Range !== 'string') throw new Error('hostNumber and ipv4Range must be strings');
    return { hostNumber: parseHostNumber(stored.hostNumber), ipv4Range: parseIpv4Range(stored.ipv4Range) };
  } catch (error) {
    throw new Error(`${file} is not valid: ${(error as Error).message}`);
  }
}

export const HOST_NUMBER_FILE = 'host-number';

/**
 * The host number this data directory's host was given in a cluster (hex, as in
 * addresses), or the one its qemu network was set up with; absent before either.
 * A file that holds no host number is refused, naming it: the number is what the
 * machines' addresses carry, so it is never guessed.
 */
export function readKeptHostNumber(dataDir: string): number | undefined {
  const network = readNetworkIdentity(dataDir);
  const file = join(dataDir, HOST_NUMBER_FILE);
  if (!existsSync(file)) return network?.hostNumber;
  let kept: number;
  try {
    kept = parseHostNumber(readFileSync(file, 'utf8').trim());
  } catch (error) {
    throw new Error(`${file} is not valid: ${(error as Error).message}`);
  }
  if (network && network.hostNumber !== kept) {
    throw new Error(`${file} holds host number ${formatHostNumber(kept)} and ${join(dataDir, NETWORK_FILE)} ${formatHostNumber(network.hostNumber)}: this data directory's machines use the latter`);
  }
  return kept;
}

export function writeKeptHostNumber(dataDir: string, hostNumber: number): void {
  writeFileSync(join(dataDir, HOST_NUMBER_FILE), `${formatHostNumber(hostNumber)}\n`);
}

export function writeNetworkIdentity(dataDir: string, identity: NetworkIdentity): void {
  const stored = { hostNumber: formatHostNumber(identity.hostNumber), ipv4Range: formatIpv4Range(identity.ipv4Range) };
  writeFileSync(join(dataDir, NETWORK_FILE), `${JSON.stringify(stored, null, 2)}\n`);
}
