/**
 * The embedded store's app secrets (see sqlite-store.ts): rows of sealed values,
 * and the app's secrets version in its row of apps, changed together.
 */
import type { SecretRecord } from '../../domain/secrets.ts';
import type { SecretWrite, StoredSecrets } from '../store.ts';
import { AppGoneError } from '../errors.ts';
import { SqliteReleases } from './releases.ts';
import type { Row } from './sqlite-database.ts';

function secretFromRow(row: Row): SecretRecord {
  return {
    name: row.name as string, sealed: row.sealed as string, digest: row.digest as string,
    createdAt: Number(row.created_at), updatedAt: Number(row.updated_at),
  };
}

export class SqliteSecrets extends SqliteReleases {
  async readSecrets(appName: string): Promise<StoredSecrets> {
    return this.secretsNow(appName);
  }

  async readSecretRecords(appName: string): Promise<SecretRecord[]> {
    return this.secretsNow(appName).secrets;
  }

  async changeSecrets(appName: string, decide: (now: StoredSecrets) => SecretWrite): Promise<StoredSecrets> {
    return this.transaction(() => {
      const app = this.sql('SELECT deleting FROM apps WHERE name = ?').get(appName) as { deleting: number } | undefined;
      if (!app) throw new AppGoneError(appName, 'missing');
      if (app.deleting) throw new AppGoneError(appName, 'deleting');
      const write = decide(this.secretsNow(appName));
      for (const name of write.unset) this.sql('DELETE FROM app_secrets WHERE app_name = ? AND name = ?').run(appName, name);
      for (const secret of write.set) {
        this.sql(`INSERT INTO app_secrets (app_name, name, sealed, digest, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT (app_name, name) DO UPDATE SET sealed = excluded.sealed, digest = excluded.digest, updated_at = excluded.updated_at`)
          .run(appName, secret.name, secret.sealed, secret.digest, secret.createdAt, secret.updatedAt);
      }
      this.sql('UPDATE apps SET secrets_version = secrets_version + 1 WHERE name = ?').run(appName);
      return this.secretsNow(appName);
    });
  }

  async resealSecret(appName: string, name: string, from: string, to: string): Promise<boolean> {
    return this.transaction(() => this.sql('UPDATE app_secrets SET sealed = ? WHERE app_name = ? AND name = ? AND sealed = ?')
      .run(to, appName, name, from).changes === 1);
  }

  async listAppsWithSecrets(): Promise<string[]> {
    return (this.sql('SELECT DISTINCT app_name FROM app_secrets ORDER BY app_name').all() as Row[]).map((row) => row.app_name as string);
  }

  private secretsNow(appName: string): StoredSecrets {
    const app = this.sql('SELECT secrets_version FROM apps WHERE name = ?').get(appName) as { secrets_version: number } | undefined;
    const rows = this.sql('SELECT name, sealed, digest, created_at, updated_at FROM app_secrets WHERE app_name = ? ORDER BY name').all(appName) as Row[];
    return { version: Number(app?.secrets_version ?? 0), secrets: rows.map(secretFromRow) };
  }
}
