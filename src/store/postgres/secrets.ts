/**
 * The PostgreSQL store's app secrets: rows of sealed values, and the app's secrets
 * version in its row of apps, changed together with the app's row locked. A host's
 * role reads the secrets of the apps that have a machine on it, nothing else (the
 * policy in schema-network.ts).
 */
import type { Pool } from 'pg';
import type { SecretRecord } from '../../domain/secrets.ts';
import type { SecretWrite, StoredSecrets } from '../store.ts';
import { AppGoneError } from '../errors.ts';
import { rows, type Sql, transaction } from './connection.ts';
import { PostgresReleases } from './releases.ts';

const SELECT_SECRETS = 'SELECT name, sealed, digest, created_at, updated_at FROM app_secrets WHERE app_name = $1 ORDER BY name';

interface SecretRow {
  name: string;
  sealed: string;
  digest: string;
  created_at: string;
  updated_at: string;
}

function secretFromRow(row: SecretRow): SecretRecord {
  return { name: row.name, sealed: row.sealed, digest: row.digest, createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) };
}

export abstract class PostgresSecrets extends PostgresReleases {
  protected constructor(pool: Pool) {
    super(pool);
  }

  async readSecrets(appName: string): Promise<StoredSecrets> {
    return secretsNow(this.pool, appName);
  }

  async readSecretRecords(appName: string): Promise<SecretRecord[]> {
    return (await rows<SecretRow>(this.pool, SELECT_SECRETS, [appName])).map(secretFromRow);
  }

  async changeSecrets(appName: string, decide: (now: StoredSecrets) => SecretWrite): Promise<StoredSecrets> {
    return transaction(this.pool, async (db) => {
      // Changes to one app's secrets take turns; the app's deletion waits for this one.
      const [app] = await rows<{ deleting: boolean }>(db, 'SELECT deleting FROM apps WHERE name = $1 FOR UPDATE', [appName]);
      if (!app) throw new AppGoneError(appName, 'missing');
      if (app.deleting) throw new AppGoneError(appName, 'deleting');
      const write = decide(await secretsNow(db, appName));
      if (write.unset.length > 0) await rows(db, 'DELETE FROM app_secrets WHERE app_name = $1 AND name = ANY($2::text[])', [appName, write.unset]);
      for (const secret of write.set) {
        await rows(db, `INSERT INTO app_secrets (app_name, name, sealed, digest, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
          ON CONFLICT (app_name, name) DO UPDATE SET sealed = excluded.sealed, digest = excluded.digest, updated_at = excluded.updated_at`,
        [appName, secret.name, secret.sealed, secret.digest, secret.createdAt, secret.updatedAt]);
      }
      await rows(db, 'UPDATE apps SET secrets_version = secrets_version + 1 WHERE name = $1', [appName]);
      return secretsNow(db, appName);
    });
  }

  async resealSecret(appName: string, name: string, from: string, to: string): Promise<boolean> {
    const updated = await rows(this.pool, 'UPDATE app_secrets SET sealed = $4 WHERE app_name = $1 AND name = $2 AND sealed = $3 RETURNING 1', [appName, name, from, to]);
    return updated.length === 1;
  }

  async listAppsWithSecrets(): Promise<string[]> {
    return (await rows<{ app_name: string }>(this.pool, 'SELECT DISTINCT app_name FROM app_secrets ORDER BY app_name')).map((row) => row.app_name);
  }
}

async function secretsNow(db: Sql, appName: string): Promise<StoredSecrets> {
  const [app] = await rows<{ secrets_version: string }>(db, 'SELECT secrets_version FROM apps WHERE name = $1', [appName]);
  const found = await rows<SecretRow>(db, SELECT_SECRETS, [appName]);
  return { version: Number(app?.secrets_version ?? 0), secrets: found.map(secretFromRow) };
}
