/** Opens the store a location names. PostgreSQL's driver is loaded only when it is used. */
import type { ClusterLink } from './link.ts';
import type { StoreLocation } from './location.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './store.ts';

export async function openStore(location: StoreLocation, onIdleError?: (error: Error) => void): Promise<Store> {
  if (location.kind === 'sqlite') return new SqliteStore(location.path);
  const { PostgresStore } = await import('./postgres/postgres-store.ts');
  return PostgresStore.open({ url: location.url, poolSize: location.poolSize, onIdleError });
}

/** The cluster link on the PostgreSQL database at `url` (a LISTEN connection of its own). */
export async function openLink(url: string): Promise<ClusterLink> {
  const { PostgresLink } = await import('./postgres/cluster-link.ts');
  return PostgresLink.open(url);
}
