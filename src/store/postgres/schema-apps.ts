/** Migrations of what belongs to apps as a whole (see migrations.ts): their secrets and releases; and the E2B front's records. */
export const APP_MIGRATIONS: readonly string[] = [
  // App secrets, sealed, and each app's secrets version (how many changes they have had).
  // A host's role reads those of the apps it runs a machine of (its machines are the
  // ones it can see), to give them to the machines it boots; it writes none.
  `
  ALTER TABLE apps ADD COLUMN secrets_version bigint NOT NULL DEFAULT 0;
  CREATE TABLE app_secrets (
    app_name text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    sealed text NOT NULL,
    digest text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (app_name, name)
  );
  ALTER TABLE app_secrets ENABLE ROW LEVEL SECURITY;
  CREATE POLICY secrets_of_own_apps ON app_secrets FOR SELECT USING (EXISTS (SELECT 1 FROM machines m WHERE m.app_name = app_secrets.app_name));
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT SELECT ON app_secrets TO hangar_hosts; END IF;
  END $$;
  `,
  // App releases: one document per deploy, numbered per app. Hosts have no grant on them.
  `
  CREATE TABLE app_releases (
    app_name text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    doc text NOT NULL,
    PRIMARY KEY (app_name, version)
  );
  `,
  // Each release's id beside its document, for finding a release by id alone (flyctl's PATCH /api/v1/releases/{id}).
  `
  ALTER TABLE app_releases ADD COLUMN id text COLLATE "C";
  -- Read without parsing: a document that is not JSON must not stop the migration.
  UPDATE app_releases SET id = substring(doc from '"id":"([^"]+)"');
  CREATE UNIQUE INDEX app_releases_by_id ON app_releases (id);
  `,
  // The E2B front's API keys and templates (src/e2b/): one document each. Hosts have no grant on them.
  `
  CREATE TABLE e2b_records (
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    doc text NOT NULL,
    PRIMARY KEY (kind, id)
  );
  `,
];
