/**
 * A host's own PostgreSQL role. Hosts hold no owner credentials: each connects as
 * `hangar_host_<id>`, a member of `hangar_hosts`, and row-level security (see the
 * migrations) lets it see and write only its own machines, their history, its own
 * row of hosts, its own work and its own volumes. So a host, even compromised, can
 * act as itself only: it cannot write another host's machine, raise another host's
 * epoch, queue work for another host or read another app's configs.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from './migrations.ts';

/** The privileges every host role has, through the group; rows are limited by the policies. */
const GRANTS = [
  'GRANT SELECT, UPDATE ON machines TO hangar_hosts',
  'GRANT SELECT, INSERT ON machine_events, machine_versions TO hangar_hosts',
  'GRANT SELECT, INSERT, UPDATE ON hosts TO hangar_hosts',
  'GRANT SELECT, INSERT, DELETE ON host_work TO hangar_hosts',
  'GRANT USAGE ON SEQUENCE host_work_id_seq, machine_events_seq TO hangar_hosts',
  'GRANT SELECT, UPDATE ON volumes TO hangar_hosts',
  'GRANT SELECT, INSERT, UPDATE, DELETE ON machine_checks TO hangar_hosts',
  'GRANT SELECT ON hangar_migrations TO hangar_hosts',
  'GRANT SELECT, INSERT ON host_numbers TO hangar_hosts',
  'GRANT SELECT, INSERT, UPDATE ON host_underlay TO hangar_hosts',
  'GRANT SELECT, DELETE ON machine_requests TO hangar_hosts',
  'GRANT SELECT, INSERT, UPDATE, DELETE ON proxy_activity TO hangar_hosts',
  'GRANT SELECT ON app_secrets TO hangar_hosts',
  'GRANT SELECT, INSERT ON host_images TO hangar_hosts',
];

/** Any constant works, as long as every hangar uses the same: "roles" in ASCII. */
const ROLES_LOCK = 0x726f6c6573;

export function hostRoleName(hostId: string): string {
  return `hangar_host_${hostId}`;
}

/**
 * Makes host `hostId`'s role in the database at `ownerUrl` (or gives it a new
 * password), with the group and its grants; answers the URL the host connects with.
 * The schema is brought up to date first, as its owner: a host's role may not.
 */
export async function createHostRole(ownerUrl: string, hostId: string): Promise<string> {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(hostId)) throw new Error(`a host id must be 1-63 lowercase letters, digits and dashes, got "${hostId}"`);
  const owner = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  try {
    await migrate(owner);
  } finally {
    await owner.end();
  }
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const role = hostRoleName(hostId);
    const password = randomBytes(24).toString('base64url');
    await client.query('BEGIN');
    // Grants and roles are catalog rows: two operators (or a script issuing several hosts at once) take turns.
    await client.query('SELECT pg_advisory_xact_lock($1)', [ROLES_LOCK]);
    await client.query("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN CREATE ROLE hangar_hosts NOLOGIN; END IF; END $$");
    const [schema] = (await client.query<{ name: string }>('SELECT current_schema() AS name')).rows;
    await client.query(`GRANT USAGE ON SCHEMA ${client.escapeIdentifier(schema?.name ?? 'public')} TO hangar_hosts`);
    for (const grant of GRANTS) await client.query(grant);
    const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
    const identifier = client.escapeIdentifier(role);
    await client.query(exists
      ? `ALTER ROLE ${identifier} WITH LOGIN PASSWORD ${client.escapeLiteral(password)}`
      : `CREATE ROLE ${identifier} WITH LOGIN PASSWORD ${client.escapeLiteral(password)} IN ROLE hangar_hosts`);
    await client.query('INSERT INTO host_roles (role_name, host_id) VALUES ($1, $2) ON CONFLICT (role_name) DO UPDATE SET host_id = excluded.host_id', [role, hostId]);
    await client.query('COMMIT');
    const url = new URL(ownerUrl);
    url.username = encodeURIComponent(role);
    url.password = encodeURIComponent(password);
    return url.toString();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
