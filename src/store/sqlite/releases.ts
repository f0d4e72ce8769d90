/**
 * The embedded store's app releases (see sqlite-store.ts): one document per
 * release, keyed by app and version; a release's version is one past the app's
 * newest, taken in the transaction that inserts it.
 */
import type { ReleaseRecord } from '../../domain/releases.ts';
import { releaseDocs } from '../documents.ts';
import { AppGoneError } from '../errors.ts';
import { SqliteE2b } from './e2b.ts';
import type { Row } from './sqlite-database.ts';

export class SqliteReleases extends SqliteE2b {
  async createRelease(appName: string, make: (version: number, newest: ReleaseRecord | null) => ReleaseRecord): Promise<ReleaseRecord> {
    return this.transaction(() => {
      const app = this.sql('SELECT deleting FROM apps WHERE name = ?').get(appName) as { deleting: number } | undefined;
      if (!app) throw new AppGoneError(appName, 'missing');
      if (app.deleting) throw new AppGoneError(appName, 'deleting');
      const newest = this.sql('SELECT max(version) AS version FROM app_releases WHERE app_name = ?').get(appName) as { version: number | null };
      const version = Number(newest.version ?? 0);
      const release = make(version + 1, version > 0 ? this.releaseNow(appName, version) : null);
      this.sql('INSERT INTO app_releases (app_name, version, id, doc) VALUES (?, ?, ?, ?)').run(appName, release.version, release.id, JSON.stringify(release));
      return release;
    });
  }

  async changeRelease(appName: string, version: number, change: (now: ReleaseRecord) => ReleaseRecord): Promise<ReleaseRecord | null> {
    return this.transaction(() => {
      const now = this.releaseNow(appName, version);
      if (!now) return null;
      const changed = change(now);
      this.sql('UPDATE app_releases SET doc = ? WHERE app_name = ? AND version = ?').run(JSON.stringify(changed), appName, version);
      return changed;
    });
  }

  async listReleases(appName: string, limit: number): Promise<ReleaseRecord[]> {
    return releaseDocs.all(this.sql('SELECT doc FROM app_releases WHERE app_name = ? ORDER BY version DESC LIMIT ?').all(appName, limit) as Row[]);
  }

  async readRelease(appName: string, version: number): Promise<ReleaseRecord | null> {
    return this.releaseNow(appName, version);
  }

  async findRelease(id: string): Promise<ReleaseRecord | null> {
    const row = this.sql('SELECT doc FROM app_releases WHERE id = ?').get(id) as Row | undefined;
    const release = row ? releaseDocs.read(row.doc) as ReleaseRecord | null : null;
    return release?.id === id ? release : null;
  }

  private releaseNow(appName: string, version: number): ReleaseRecord | null {
    const row = this.sql('SELECT doc FROM app_releases WHERE app_name = ? AND version = ?').get(appName, version) as Row | undefined;
    return row ? releaseDocs.read(row.doc) as ReleaseRecord | null : null;
  }
}
