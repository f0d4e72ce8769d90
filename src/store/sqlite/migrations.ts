/** Schema migrations, applied in order; `PRAGMA user_version` records how many ran. */

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    org_slug TEXT NOT NULL,
    network TEXT NOT NULL,
    net_number INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE machines (
    id TEXT PRIMARY KEY,
    app_name TEXT NOT NULL,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    state TEXT NOT NULL,
    rev INTEGER NOT NULL,
    doc TEXT NOT NULL,
    recent_events TEXT NOT NULL DEFAULT '[]'
  );
  CREATE INDEX machines_by_app ON machines (app_name, id);
  CREATE UNIQUE INDEX machine_names ON machines (app_name, name) WHERE state <> 'destroyed';
  CREATE TABLE machine_versions (
    machine_id TEXT NOT NULL,
    version TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (machine_id, version)
  );
  CREATE TABLE machine_events (
    id TEXT PRIMARY KEY,
    machine_id TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX events_by_machine ON machine_events (machine_id, id);
  `,
  // Listings read (id, rev) for every machine of an app; this covering index keeps
  // that from touching the rows, which carry whole documents. The watchdog reads
  // machines by state.
  `
  CREATE INDEX machine_heads ON machines (app_name, id, state, rev, region);
  CREATE INDEX machines_by_state ON machines (state);
  `,
  `
  CREATE TABLE volumes (
    id TEXT PRIMARY KEY,
    app_name TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX volumes_by_app ON volumes (app_name, id);
  `,
  // The host port the edge proxy gave each app's public TCP port, kept so that an
  // app keeps its ports across restarts.
  `
  CREATE TABLE public_ports (
    app_name TEXT NOT NULL,
    port INTEGER NOT NULL,
    host_port INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (app_name, port)
  );
  `,
  // Volume snapshots: kept while their volume lives, then until expires_at.
  `
  CREATE TABLE volume_snapshots (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL,
    expires_at INTEGER,
    doc TEXT NOT NULL
  );
  CREATE INDEX snapshots_by_volume ON volume_snapshots (volume_id, id);
  CREATE INDEX snapshots_by_expiry ON volume_snapshots (expires_at) WHERE expires_at IS NOT NULL;
  `,
  // An app being deleted takes no new machines, while its machines are destroyed.
  `
  ALTER TABLE apps ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
  `,
  // Hosts, and each machine's host and what it reserves there (placement sums them).
  `
  CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
  );
  ALTER TABLE machines ADD COLUMN host_id TEXT;
  ALTER TABLE machines ADD COLUMN cpus INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE machines ADD COLUMN memory_mb INTEGER NOT NULL DEFAULT 0;
  UPDATE machines SET
    cpus = coalesce(json_extract(doc, '$.config.guest.cpus'), 1),
    memory_mb = coalesce(json_extract(doc, '$.config.guest.memory_mb'), 256)
    WHERE json_valid(doc);
  CREATE INDEX machines_by_host ON machines (host_id, state);
  `,
  // The instance holding each host, its state and heartbeat, in columns.
  `
  ALTER TABLE hosts ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
  ALTER TABLE hosts ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
  ALTER TABLE hosts ADD COLUMN heartbeat_at REAL NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN registered_at REAL NOT NULL DEFAULT 0;
  UPDATE hosts SET epoch = coalesce(json_extract(doc, '$.epoch'), 0) WHERE json_valid(doc);
  `,
  // The outbox: effects queued in the commit that decided them, drained by the host agent.
  `
  CREATE TABLE host_work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX host_work_by_host ON host_work (host_id, id);
  `,
  // Each machine's IPv4 address, allocated on its host (null: recorded before, its number gives it);
  // no two machines of a host that are not destroyed hold the same.
  `
  ALTER TABLE machines ADD COLUMN private_ipv4 TEXT;
  CREATE UNIQUE INDEX machine_ipv4s ON machines (host_id, private_ipv4) WHERE state <> 'destroyed';
  `,
  // Each machine's place in the commit order (writes take turns here, so a count kept
  // at each write is that order); machines already there keep the order they were
  // inserted in.
  `
  ALTER TABLE machines ADD COLUMN change_seq INTEGER;
  UPDATE machines SET change_seq = rowid;
  CREATE INDEX machines_by_change ON machines (change_seq);
  CREATE TRIGGER machine_inserted AFTER INSERT ON machines BEGIN
    UPDATE machines SET change_seq = (SELECT coalesce(max(change_seq), 0) + 1 FROM machines) WHERE id = NEW.id;
  END;
  CREATE TRIGGER machine_changed AFTER UPDATE OF doc ON machines BEGIN
    UPDATE machines SET change_seq = (SELECT coalesce(max(change_seq), 0) + 1 FROM machines) WHERE id = NEW.id;
  END;
  `,
  // A machine's events in the order they were written (rowid), which is its commits' order.
  `
  CREATE INDEX events_in_order ON machine_events (machine_id);
  `,
  // Each volume's place in the commit order, as machines have theirs; volumes already
  // there keep the order they were inserted in.
  `
  ALTER TABLE volumes ADD COLUMN change_seq INTEGER;
  UPDATE volumes SET change_seq = rowid;
  CREATE INDEX volumes_by_commit ON volumes (change_seq);
  CREATE TRIGGER volume_inserted AFTER INSERT ON volumes BEGIN
    UPDATE volumes SET change_seq = (SELECT coalesce(max(change_seq), 0) + 1 FROM volumes) WHERE id = NEW.id;
  END;
  CREATE TRIGGER volume_changed AFTER UPDATE OF doc ON volumes BEGIN
    UPDATE volumes SET change_seq = (SELECT coalesce(max(change_seq), 0) + 1 FROM volumes) WHERE id = NEW.id;
  END;
  `,
  // App secrets, sealed, and each app's secrets version (how many changes they have had).
  `
  ALTER TABLE apps ADD COLUMN secrets_version INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE app_secrets (
    app_name TEXT NOT NULL,
    name TEXT NOT NULL,
    sealed TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_name, name)
  );
  `,
  // App releases: one document per deploy, numbered per app.
  `
  CREATE TABLE app_releases (
    app_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_name, version)
  );
  `,
  // Each release's id beside its document, for finding a release by id alone (flyctl's PATCH /api/v1/releases/{id}).
  `
  ALTER TABLE app_releases ADD COLUMN id TEXT;
  UPDATE app_releases SET id = json_extract(doc, '$.id') WHERE json_valid(doc);
  CREATE UNIQUE INDEX app_releases_by_id ON app_releases (id);
  `,
  // The E2B front's API keys and templates (src/e2b/): one document each.
  `
  CREATE TABLE e2b_records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
  );
  `,
];
