/**
 * The PostgreSQL store's app releases: one document per release, keyed by app and
 * version. Releases of one app are numbered with the app's row locked, so two
 * deploys that begin together get two numbers. Hosts have no grant on them.
 */
import type { ReleaseRecord } from '../../domain/releases.ts';
import { releaseDocs } from '../documents.ts';
import { AppGoneError } from '../errors.ts';
import { rows, type Sql, transaction } from './connection.ts';
import { PostgresE2b } from './e2b.ts';

export abstract class PostgresReleases extends PostgresE2b {

  async createRelease(appName: string, make: (version: number, newest: ReleaseRecord | null) => ReleaseRecord): Promise<ReleaseRecord> {
    return transaction(this.pool, async (db) => {
      const [app] = await rows<{ deleting: boolean }>(db, 'SELECT deleting FROM apps WHERE name = $1 FOR UPDATE', [appName]);
      if (!app) throw new AppGoneError(appName, 'missing');
      if (app.deleting) throw new AppGoneError(appName, 'deleting');
      const [newest] = await rows<{ version: number | null }>(db, 'SELECT max(version) AS version FROM app_releases WHERE app_name = $1', [appName]);
      const version = Number(newest?.version ?? 0);
      const release = make(version + 1, version > 0 ? await releaseNow(db, appName, version, '') : null);
      await rows(db, 'INSERT INTO app_releases (app_name, version, id, doc) VALUES ($1, $2, $3, $4)', [appName, release.version, release.id, JSON.stringify(release)]);
      return release;
    });
  }

  async changeRelease(appName: string, version: number, change: (now: ReleaseRecord) => ReleaseRecord): Promise<ReleaseRecord | null> {
    return transaction(this.pool, async (db) => {
      const now = await releaseNow(db, appName, version, 'FOR UPDATE');
      if (!now) return null;
      const changed = change(now);
      await rows(db, 'UPDATE app_releases SET doc = $3 WHERE app_name = $1 AND version = $2', [appName, version, JSON.stringify(changed)]);
      return changed;
    });
  }

  async listReleases(appName: string, limit: number): Promise<ReleaseRecord[]> {
    return releaseDocs.all(await rows(this.pool, 'SELECT doc FROM app_releases WHERE app_name = $1 ORDER BY version DESC LIMIT $2', [appName, limit])) as ReleaseRecord[];
  }

  async readRelease(appName: string, version: number): Promise<ReleaseRecord | null> {
    return releaseNow(this.pool, appName, version, '');
  }

  async findRelease(id: string): Promise<ReleaseRecord | null> {
    const [row] = await rows<{ doc: string }>(this.pool, 'SELECT doc FROM app_releases WHERE id = $1', [id]);
    const release = row ? releaseDocs.read(row.doc) as ReleaseRecord | null : null;
    return release?.id === id ? release : null;
  }
}

async function releaseNow(db: Sql, appName: string, version: number, lock: '' | 'FOR UPDATE'): Promise<ReleaseRecord | null> {
  const [row] = await rows<{ doc: string }>(db, `SELECT doc FROM app_releases WHERE app_name = $1 AND version = $2 ${lock}`, [appName, version]);
  return row ? releaseDocs.read(row.doc) as ReleaseRecord | null : null;
}
