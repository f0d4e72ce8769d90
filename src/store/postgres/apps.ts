/**
 * The PostgreSQL store's apps: each with its number in the private network (from a
 * counter, never reused), listed with its machines counted by state, and deleted
 * with everything of it once it has no live machine.
 */
import type { Pool } from 'pg';
import type { App } from '../../domain/machine.ts';
import { appFromRow } from '../app-rows.ts';
import { DuplicateError, LiveMachinesError } from '../errors.ts';
import type { AppWithCounts } from '../store.ts';
import { changed, isUniqueViolation, rows, type Sql, transaction } from './connection.ts';
import { NOT_LIVE } from './machine-sql.ts';
import { PostgresVolumes } from './volumes.ts';

export abstract class PostgresApps extends PostgresVolumes {
  protected constructor(pool: Pool) {
    super(pool);
  }

  private async nextCounter(db: Sql, name: string): Promise<number> {
    const [row] = await rows<{ value: string }>(db,
      'INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value', [name]);
    return Number(row?.value);
  }

  async createApp(app: Omit<App, 'netNumber' | 'deleting'>): Promise<App> {
    return transaction(this.pool, async (db) => {
      const netNumber = await this.nextCounter(db, 'app_net');
      try {
        await rows(db, 'INSERT INTO apps (name, id, org_slug, network, net_number, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [app.name, app.id, app.orgSlug, app.network, netNumber, app.createdAt]);
      } catch (error) {
        if (isUniqueViolation(error)) throw new DuplicateError('app', `app name "${app.name}" is already taken`);
        throw error;
      }
      return { ...app, netNumber, deleting: false };
    });
  }

  async getApp(name: string): Promise<App | null> {
    const [row] = await rows(this.pool, `SELECT ${APP_COLUMNS}, 0 AS machine_count FROM apps a WHERE a.name = $1`, [name]);
    if (!row) return null;
    const { machineCount: _count, ...app } = appFromRow(row);
    return app;
  }

  async getAppWithCounts(name: string): Promise<AppWithCounts | null> {
    const [row] = await rows(this.pool, `${APP_SELECT} WHERE a.name = $1`, [name]);
    return row ? appFromRow(row) : null;
  }

  async listApps(orgSlug?: string): Promise<AppWithCounts[]> {
    const found = orgSlug === undefined
      ? await rows(this.pool, `${APP_SELECT} ORDER BY a.name`)
      : await rows(this.pool, `${APP_SELECT} WHERE a.org_slug = $1 ORDER BY a.name`, [orgSlug]);
    return found.map(appFromRow);
  }

  async markAppDeleting(name: string): Promise<App | null> {
    await changed(this.pool, 'UPDATE apps SET deleting = true WHERE name = $1', [name]);
    return this.getApp(name);
  }

  async deleteApp(name: string): Promise<void> {
    await transaction(this.pool, async (db) => {
      // Inserts into the app wait for this lock, then find the app gone.
      await rows(db, 'SELECT 1 FROM apps WHERE name = $1 FOR UPDATE', [name]);
      const live = await rows<{ id: string }>(db, `SELECT id FROM machines WHERE app_name = $1 AND state NOT IN ${NOT_LIVE} ORDER BY id`, [name]);
      if (live.length > 0) throw new LiveMachinesError(name, live.map((row) => row.id));
      await rows(db, `
        WITH gone AS (DELETE FROM machines WHERE app_name = $1 RETURNING id),
          events AS (DELETE FROM machine_events WHERE machine_id IN (SELECT id FROM gone)),
          versions AS (DELETE FROM machine_versions WHERE machine_id IN (SELECT id FROM gone)),
          ports AS (DELETE FROM public_ports WHERE app_name = $1),
          volumes AS (DELETE FROM volumes WHERE app_name = $1),
          secrets AS (DELETE FROM app_secrets WHERE app_name = $1),
          releases AS (DELETE FROM app_releases WHERE app_name = $1)
        DELETE FROM apps WHERE name = $1`, [name]);
    });
  }
}

/** Named, not `a.*`: a prepared statement must keep its columns when a migration adds one. */
const APP_COLUMNS = 'a.name, a.id, a.org_slug, a.network, a.net_number, a.created_at, a.deleting';

const APP_SELECT = `
  SELECT ${APP_COLUMNS}, (SELECT count(*)::integer FROM machines m WHERE m.app_name = a.name AND m.state <> 'destroyed') AS machine_count,
    (SELECT coalesce(json_object_agg(state, n), '{}') FROM (SELECT state, count(*) AS n FROM machines m WHERE m.app_name = a.name AND m.state <> 'destroyed' GROUP BY state) s) AS machine_states
  FROM apps a`;
