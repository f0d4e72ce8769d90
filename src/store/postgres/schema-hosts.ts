/**
 * The schema's migrations for hosts as a cluster knows them (see migrations.ts):
 * which host a session is, for row-level security, and each host's number.
 */
export const HOST_MIGRATIONS: readonly string[] = [
  // The host a session is, for the row-level security policies, in plpgsql: a SQL function that
  // cannot be inlined (this one is SECURITY DEFINER) is parsed and planned again in every statement
  // that calls it, and every statement of a host on a table with a policy calls it. The same query,
  // as the same owner, with the same search_path; plpgsql keeps its plan for the session.
  `
  CREATE OR REPLACE FUNCTION hangar_current_host() RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT
    AS $$ BEGIN RETURN (SELECT host_id FROM host_roles WHERE role_name = session_user); END $$;
  `,
  // Each host's number (the group after an app's /48 in its machines' 6PN addresses),
  // given by the database at the host's first registration: no two hosts share one. Hosts
  // registered before keep the number they registered with, the first registered where
  // two had the same. Every host may read them all; it records only its own.
  `
  CREATE TABLE host_numbers (
    number integer PRIMARY KEY CHECK (number BETWEEN 1 AND 65535),
    host_id text COLLATE "C" NOT NULL UNIQUE
  );
  DO $$
  DECLARE
    r record;
  BEGIN
    FOR r IN SELECT id, doc FROM hosts ORDER BY registered_at, id LOOP
      BEGIN
        INSERT INTO host_numbers (number, host_id) VALUES ((r.doc::jsonb ->> 'hostNumber')::integer, r.id) ON CONFLICT DO NOTHING;
      EXCEPTION WHEN others THEN NULL; -- a document without a number of the right form: the host is given one at its next start
      END;
    END LOOP;
  END $$;
  ALTER TABLE host_numbers ENABLE ROW LEVEL SECURITY;
  CREATE POLICY numbers_read ON host_numbers FOR SELECT USING (true);
  CREATE POLICY own_number ON host_numbers FOR INSERT WITH CHECK (host_id = hangar_current_host());
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT SELECT, INSERT ON host_numbers TO hangar_hosts; END IF;
  END $$;
  `,
];
