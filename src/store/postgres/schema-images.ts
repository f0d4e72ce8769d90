/** Migrations for what each host holds on its disk (see migrations.ts). */
export const IMAGE_MIGRATIONS: readonly string[] = [
  // The images each host holds, by repository and digest, and the instance (data
  // directory) that holds them: a create of an image its host holds, named by
  // digest, is recorded prepared at once (see PostgresStore.insertMachine). Each
  // host writes its own rows only; a host registered from another data directory
  // (another instance) holds none of the rows of the one before.
  `
  CREATE TABLE host_images (
    host_id text COLLATE "C" NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    instance_id text COLLATE "C" NOT NULL,
    repository text COLLATE "C" NOT NULL,
    digest text COLLATE "C" NOT NULL,
    PRIMARY KEY (host_id, instance_id, repository, digest)
  );
  ALTER TABLE host_images ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_images ON host_images USING (host_id = (SELECT hangar_current_host()));
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT SELECT, INSERT ON host_images TO hangar_hosts; END IF;
  END $$;
  `,
];
