/** Opens the store a location names. PostgreSQL's driver is loaded only when it is used. */
import type { StoreLocation } from './location.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './store.ts';

export async function openStore(location: StoreLocation, onIdleError?: (error: Error) => void): Promise<Store> {
  if (location.kind === 'sqlite') return new SqliteStore(location.path);
  const { PostgresStore } = await import('./postgres/postgres-store.ts');
  return PostgresStore.open({ url: location.url, poolSize: location.poolSize, onIdleError });
}
