/**
 * Where hangar keeps its records: the SQLite file in its data directory (the default),
 * or a PostgreSQL database named by a URL. Pure: the CLI checks `--store` with it
 * before anything starts, without loading either store.
 */
import { join } from 'node:path';

export type StoreLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; poolSize: number };

export const DEFAULT_POOL_SIZE = 10;
export const MAX_POOL_SIZE = 1000;

/** The store `--store` names (undefined: SQLite in `dataDir`); throws with a message for the user otherwise. */
export function storeLocation(url: string | undefined, dataDir: string, poolSize = DEFAULT_POOL_SIZE): StoreLocation {
  if (url === undefined) return { kind: 'sqlite', path: join(dataDir, 'hangar.db') };
  // Only the scheme is echoed: the rest may hold a password.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  if (!scheme || !['postgres', 'postgresql'].includes(scheme.toLowerCase())) {
    const got = scheme ? `a ${scheme}: URL` : 'no URL';
    throw new Error(`--store takes a postgres:// or postgresql:// URL (leave it out to keep a SQLite file in the data directory), got ${got}`);
  }
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > MAX_POOL_SIZE) {
    throw new Error(`--store-pool-size must be a whole number from 1 to ${MAX_POOL_SIZE}, got ${poolSize}`);
  }
  return { kind: 'postgres', url, poolSize };
}

/** The location for messages and logs: a URL without its password. */
export function describeStore(location: StoreLocation): string {
  if (location.kind === 'sqlite') return location.path;
  // node-postgres reads some URLs WHATWG's parser refuses (postgres://user@/db); those are shown by their scheme.
  if (!URL.canParse(location.url)) return `${location.url.split(':')[0]}://…`;
  const url = new URL(location.url);
  if (url.password) url.password = '***';
  for (const key of [...url.searchParams.keys()]) if (/^password$/i.test(key)) url.searchParams.set(key, '***');
  return url.toString();
}
