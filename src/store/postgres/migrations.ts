/**
 * The PostgreSQL schema, as migrations applied in order at open; `hangar_migrations`
 * records which ran. Opening runs them in one transaction under an advisory lock, so
 * several hangars opening one database at once apply each migration once.
 *
 * Documents are `text` holding the JSON hangar wrote, byte for byte as in SQLite:
 * `jsonb` would refuse a string holding U+0000 (which configs and metadata may hold)
 * and reorder the keys of users' maps (`env`, `metadata`). The columns beside them
 * are what queries filter and sort by; they use the "C" collation so that orders are
 * by code point, as SQLite's, whatever the database's locale.
 */
import { rows, type Sql, transaction, type Connector } from './connection.ts';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE counters (name text COLLATE "C" PRIMARY KEY, value bigint NOT NULL);
  CREATE TABLE apps (
    name text COLLATE "C" PRIMARY KEY,
    id text NOT NULL,
    org_slug text COLLATE "C" NOT NULL,
    network text NOT NULL,
    net_number integer NOT NULL,
    created_at double precision NOT NULL,
    deleting boolean NOT NULL DEFAULT false
  );
  CREATE INDEX apps_by_org ON apps (org_slug, name);
  -- metadata: each config.metadata pair as the JSON text of [key, value], matched with @>.
  CREATE TABLE machines (
    id text COLLATE "C" PRIMARY KEY,
    app_name text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL,
    rev integer NOT NULL,
    updated_at double precision NOT NULL,
    metadata text[] NOT NULL DEFAULT '{}',
    doc text NOT NULL,
    recent_events text NOT NULL DEFAULT '[]'
  );
  -- Listings read (id, rev) of every machine of an app without touching the documents.
  CREATE INDEX machine_heads ON machines (app_name, id) INCLUDE (state, rev, region);
  CREATE UNIQUE INDEX machine_names ON machines (app_name, name) WHERE state <> 'destroyed';
  CREATE INDEX machines_by_state ON machines (state);
  CREATE INDEX machines_by_update ON machines (updated_at, id);
  CREATE TABLE machine_versions (
    machine_id text COLLATE "C" NOT NULL,
    version text COLLATE "C" NOT NULL,
    doc text NOT NULL,
    PRIMARY KEY (machine_id, version)
  );
  CREATE TABLE machine_events (
    id text COLLATE "C" PRIMARY KEY,
    machine_id text COLLATE "C" NOT NULL,
    doc text NOT NULL
  );
  CREATE INDEX events_by_machine ON machine_events (machine_id, id);
  CREATE TABLE volumes (
    id text COLLATE "C" PRIMARY KEY,
    app_name text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL,
    attached_machine_id text COLLATE "C",
    doc text NOT NULL
  );
  CREATE INDEX volumes_by_app ON volumes (app_name, id);
  CREATE INDEX volumes_by_machine ON volumes (attached_machine_id) WHERE attached_machine_id IS NOT NULL;
  CREATE TABLE public_ports (
    app_name text COLLATE "C" NOT NULL,
    port integer NOT NULL,
    host_port integer NOT NULL UNIQUE,
    PRIMARY KEY (app_name, port)
  );
  CREATE TABLE volume_snapshots (
    id text COLLATE "C" PRIMARY KEY,
    volume_id text COLLATE "C" NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision,
    doc text NOT NULL
  );
  CREATE INDEX snapshots_by_volume ON volume_snapshots (volume_id, created_at, id);
  CREATE INDEX snapshots_by_expiry ON volume_snapshots (expires_at) WHERE expires_at IS NOT NULL;
  `,
  // Hosts, each machine's host and what it reserves there, and the work queued for hosts.
  `
  CREATE TABLE hosts (
    id text COLLATE "C" PRIMARY KEY,
    region text COLLATE "C" NOT NULL,
    any_region boolean NOT NULL,
    epoch integer NOT NULL,
    doc text NOT NULL
  );
  ALTER TABLE machines ADD COLUMN host_id text COLLATE "C";
  ALTER TABLE machines ADD COLUMN cpus integer NOT NULL DEFAULT 0;
  ALTER TABLE machines ADD COLUMN memory_mb integer NOT NULL DEFAULT 0;
  CREATE INDEX machines_by_host ON machines (host_id, state);
  CREATE TABLE host_work (
    id bigserial PRIMARY KEY,
    host_id text COLLATE "C" NOT NULL,
    machine_id text COLLATE "C" NOT NULL,
    doc text NOT NULL
  );
  CREATE INDEX host_work_by_host ON host_work (host_id, id);
  `,
  // Machine numbers from a sequence: a create no longer waits for another's counter row.
  `
  CREATE SEQUENCE machine_numbers;
  SELECT setval('machine_numbers', coalesce((SELECT value FROM counters WHERE name = 'machine'), 0) + 1, false);
  `,
  // What each host's machines reserve, kept by a trigger: placement reads a row per
  // host instead of summing every machine of the cluster in every create.
  `
  CREATE TABLE host_reservations (
    host_id text COLLATE "C" PRIMARY KEY,
    machines integer NOT NULL,
    cpus integer NOT NULL,
    memory_mb integer NOT NULL
  );
  INSERT INTO host_reservations (host_id, machines, cpus, memory_mb)
    SELECT host_id, count(*), sum(cpus), sum(memory_mb) FROM machines
    WHERE host_id IS NOT NULL AND state <> 'destroyed' GROUP BY host_id;
  CREATE FUNCTION hangar_reserve() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.host_id IS NOT NULL AND OLD.state <> 'destroyed' THEN
      UPDATE host_reservations SET machines = machines - 1, cpus = cpus - OLD.cpus, memory_mb = memory_mb - OLD.memory_mb
        WHERE host_id = OLD.host_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.host_id IS NOT NULL AND NEW.state <> 'destroyed' THEN
      INSERT INTO host_reservations AS r (host_id, machines, cpus, memory_mb) VALUES (NEW.host_id, 1, NEW.cpus, NEW.memory_mb)
        ON CONFLICT (host_id) DO UPDATE SET machines = r.machines + 1, cpus = r.cpus + NEW.cpus, memory_mb = r.memory_mb + NEW.memory_mb;
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER machines_reserve AFTER INSERT OR DELETE ON machines FOR EACH ROW EXECUTE FUNCTION hangar_reserve();
  CREATE TRIGGER machines_reserve_change AFTER UPDATE OF host_id, state, cpus, memory_mb ON machines FOR EACH ROW
    WHEN (OLD.host_id IS DISTINCT FROM NEW.host_id OR (OLD.state = 'destroyed') <> (NEW.state = 'destroyed')
      OR OLD.cpus <> NEW.cpus OR OLD.memory_mb <> NEW.memory_mb)
    EXECUTE FUNCTION hangar_reserve();
  `,
  // One instance holds a host; replicas declare silent hosts lost, operators forget them.
  // Heartbeats are written by the database's clock, so every process judges them by one.
  `
  ALTER TABLE hosts ADD COLUMN instance_id text COLLATE "C" NOT NULL DEFAULT '';
  ALTER TABLE hosts ADD COLUMN state text COLLATE "C" NOT NULL DEFAULT 'active';
  ALTER TABLE hosts ADD COLUMN heartbeat_at timestamptz NOT NULL DEFAULT now();
  ALTER TABLE hosts ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();
  `,
  // A volume's host and last change in columns, so that no query casts documents
  // (a row whose document is not JSON would fail it). Such a row keeps them empty.
  `
  ALTER TABLE volumes ADD COLUMN host_id text COLLATE "C";
  ALTER TABLE volumes ADD COLUMN changed_at double precision;
  DO $$
  DECLARE
    r record;
  BEGIN
    FOR r IN SELECT id, doc FROM volumes LOOP
      BEGIN
        UPDATE volumes SET host_id = r.doc::jsonb ->> 'hostId',
          changed_at = coalesce((r.doc::jsonb ->> 'updatedAt')::double precision, (r.doc::jsonb ->> 'createdAt')::double precision)
          WHERE id = r.id;
      EXCEPTION WHEN others THEN NULL;
      END;
    END LOOP;
  END $$;
  CREATE INDEX volumes_by_host ON volumes (host_id) WHERE host_id IS NOT NULL;
  CREATE INDEX volumes_by_change ON volumes (changed_at, id);
  `,
  // Each host connects as a role of its own (host_roles), and row-level security lets it
  // see and write only what is its own: its machines and their history, its row of
  // hosts, its queue, its volumes. The owner (the replicas) is not bound by it; any other
  // role that is not a host's sees nothing. The reservations trigger writes as the owner.
  `
  CREATE TABLE host_roles (role_name text COLLATE "C" PRIMARY KEY, host_id text COLLATE "C" NOT NULL UNIQUE);
  CREATE FUNCTION hangar_current_host() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT
    AS $$ SELECT host_id FROM host_roles WHERE role_name = session_user $$;
  ALTER FUNCTION hangar_reserve() SECURITY DEFINER SET search_path FROM CURRENT;
  ALTER TABLE machines ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_machines ON machines USING (host_id = hangar_current_host());
  ALTER TABLE machine_events ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_events ON machine_events USING (EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id));
  ALTER TABLE machine_versions ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_versions ON machine_versions USING (EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id));
  ALTER TABLE hosts ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_host_read ON hosts FOR SELECT USING (id = hangar_current_host());
  CREATE POLICY own_host_insert ON hosts FOR INSERT WITH CHECK (id = hangar_current_host());
  -- A forgotten host changes nothing of its row: it may register again only once let rejoin.
  CREATE POLICY own_host_update ON hosts FOR UPDATE USING (id = hangar_current_host() AND state <> 'forgotten');
  ALTER TABLE host_work ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_work ON host_work USING (host_id = hangar_current_host())
    WITH CHECK (host_id = hangar_current_host() AND EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id));
  ALTER TABLE volumes ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_volumes ON volumes USING (host_id = hangar_current_host());
  ALTER TABLE apps ENABLE ROW LEVEL SECURITY;
  ALTER TABLE volume_snapshots ENABLE ROW LEVEL SECURITY;
  ALTER TABLE public_ports ENABLE ROW LEVEL SECURITY;
  ALTER TABLE counters ENABLE ROW LEVEL SECURITY;
  ALTER TABLE host_reservations ENABLE ROW LEVEL SECURITY;
  ALTER TABLE host_roles ENABLE ROW LEVEL SECURITY;
  `,
  // Each machine's IPv4 address, allocated on its host (null: recorded before, its number gives it);
  // no two machines of a host that are not destroyed hold the same.
  `
  ALTER TABLE machines ADD COLUMN private_ipv4 text COLLATE "C";
  CREATE UNIQUE INDEX machine_ipv4s ON machines (host_id, private_ipv4) WHERE state <> 'destroyed';
  `,
  // Each machine's place in the commit order: the id of the transaction that last wrote
  // it. Listings read only rows below the oldest transaction still running, so no
  // commit can land before a place already read (an id is given at a write, not at
  // its commit).
  `
  ALTER TABLE machines ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
  CREATE FUNCTION hangar_machine_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
  END $$;
  CREATE TRIGGER machine_changed BEFORE UPDATE ON machines FOR EACH ROW EXECUTE FUNCTION hangar_machine_changed();
  CREATE INDEX machines_by_change ON machines (change_xid, id);
  `,
  // Events in the order they were written: for one machine that is the order of its
  // commits, which take turns on its row. (Their ids are stamped by each process's
  // clock, which may differ by a little from another's.) Older events keep their ids' order.
  `
  CREATE SEQUENCE machine_events_seq;
  ALTER TABLE machine_events ADD COLUMN seq bigint;
  UPDATE machine_events e SET seq = o.n FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM machine_events) o WHERE e.id = o.id;
  SELECT setval('machine_events_seq', coalesce((SELECT max(seq) FROM machine_events), 0) + 1, false);
  ALTER TABLE machine_events ALTER COLUMN seq SET DEFAULT nextval('machine_events_seq'), ALTER COLUMN seq SET NOT NULL;
  CREATE INDEX events_in_order ON machine_events (machine_id, seq);
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT USAGE ON SEQUENCE machine_events_seq TO hangar_hosts; END IF;
  END $$;
  `,
  // Each machine's health check results, as the host that runs the checks last recorded
  // them: every replica shows the same. A host writes only its own machines' results.
  `
  CREATE TABLE machine_checks (
    machine_id text COLLATE "C" NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    name text COLLATE "C" NOT NULL,
    status text NOT NULL,
    output text NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (machine_id, name)
  );
  ALTER TABLE machine_checks ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_checks ON machine_checks USING (EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id));
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT SELECT, INSERT, UPDATE, DELETE ON machine_checks TO hangar_hosts; END IF;
  END $$;
  `,
  // Each volume's place in the commit order, as machines have theirs (the same trigger
  // function: it stamps the writing transaction's id).
  `
  ALTER TABLE volumes ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
  CREATE TRIGGER volume_changed BEFORE UPDATE ON volumes FOR EACH ROW EXECUTE FUNCTION hangar_machine_changed();
  CREATE INDEX volumes_by_commit ON volumes (change_xid, id);
  `,
  // A machine's recent events with new ones in front, so that a commit is one statement:
  // the newest \`keep\` of \`newest_first\` then of \`recent\` (JSON texts, newest first), each
  // element's text as it was. Stored events that are not JSON objects (a spoiled row) are dropped.
  `
  CREATE FUNCTION hangar_recent_events(recent text, newest_first text[], keep integer) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
  DECLARE
    kept text[] := newest_first[1:keep];
    element json;
  BEGIN
    IF coalesce(array_length(kept, 1), 0) < keep THEN
      BEGIN
        FOR element IN SELECT value FROM json_array_elements(recent::json) LOOP
          EXIT WHEN coalesce(array_length(kept, 1), 0) >= keep;
          IF json_typeof(element) = 'object' THEN
            kept := kept || element::text;
          END IF;
        END LOOP;
      EXCEPTION WHEN others THEN
        NULL; -- not a JSON array: nothing of it is kept
      END;
    END IF;
    RETURN '[' || array_to_string(kept, ',') || ']';
  END $$;
  `,
  // A create in one statement (see PostgresStore.insertMachine): the app's limit, the
  // room of the host chosen and the machine's IPv4 address are decided with the rows
  // they depend on locked, each read after its lock (a function's statements each see
  // what committed before them), and the locks are held only until the create commits.
  `
  CREATE INDEX machines_unaddressed ON machines (host_id) WHERE private_ipv4 IS NULL AND state <> 'destroyed';
  CREATE FUNCTION hangar_insert_machine(
    p_app text, p_app_id text, p_max_live integer, p_limit_slack integer,
    p_place boolean, p_epoch integer, p_max_machines integer, p_max_cpus integer, p_max_memory integer,
    p_ipv4_base text, p_ipv4_slots integer, p_ipv4_token text,
    p_id text, p_name text, p_region text, p_state text, p_updated_at double precision, p_metadata text[], p_doc text,
    p_cpus integer, p_memory integer, p_recent text, p_host text,
    p_version text, p_version_doc text, p_event_ids text[], p_event_docs text[], p_work_doc text, p_work_channel text
  ) RETURNS TABLE (outcome text, ipv4 text, live integer) LANGUAGE plpgsql AS $$
  DECLARE
    v_deleting boolean;
    v_app_id text;
    v_live integer;
    v_room host_reservations%ROWTYPE;
    v_offset integer;
    v_ipv4 text;
    v_doc text := p_doc;
    v_work text := p_work_doc;
  BEGIN
    -- A share lock on the app: a deletion waits for this insert, other inserts do not.
    SELECT a.deleting, a.id INTO v_deleting, v_app_id FROM apps a WHERE a.name = p_app FOR SHARE;
    IF NOT FOUND THEN RETURN QUERY SELECT 'missing', NULL::text, NULL::integer; RETURN; END IF;
    IF v_deleting THEN RETURN QUERY SELECT 'deleting', NULL::text, NULL::integer; RETURN; END IF;
    IF v_app_id <> p_app_id THEN RETURN QUERY SELECT 'replaced', NULL::text, NULL::integer; RETURN; END IF;
    IF p_max_live IS NOT NULL THEN
      -- Far below the limit, inserts count at once; near it they take turns and count again.
      SELECT count(*) INTO v_live FROM (SELECT 1 FROM machines m WHERE m.app_name = p_app AND m.state <> 'destroyed' LIMIT p_max_live) l;
      IF v_live >= p_max_live - p_limit_slack THEN
        PERFORM pg_advisory_xact_lock(hashtext('hangar-app-limit:' || p_app));
        SELECT count(*) INTO v_live FROM (SELECT 1 FROM machines m WHERE m.app_name = p_app AND m.state <> 'destroyed' LIMIT p_max_live) l;
      END IF;
      IF v_live >= p_max_live THEN RETURN QUERY SELECT 'limit', NULL::text, v_live; RETURN; END IF;
    END IF;
    IF p_place THEN
      PERFORM 1 FROM hosts h WHERE h.id = p_host AND h.epoch = p_epoch;
      IF NOT FOUND THEN RETURN QUERY SELECT 'host_changed', NULL::text, v_live; RETURN; END IF;
      -- The host's reservation row, locked until the commit (the insert's trigger takes it too).
      INSERT INTO host_reservations AS r (host_id, machines, cpus, memory_mb) VALUES (p_host, 0, 0, 0)
        ON CONFLICT (host_id) DO UPDATE SET machines = r.machines RETURNING r.* INTO v_room;
      IF v_room.machines > p_max_machines OR v_room.cpus > p_max_cpus OR v_room.memory_mb > p_max_memory THEN
        RETURN QUERY SELECT 'full', NULL::text, v_live; RETURN;
      END IF;
      IF p_ipv4_base IS NOT NULL THEN
        -- Machines recorded without an address hold the one their number gives: worked out by the caller.
        PERFORM 1 FROM machines m WHERE m.host_id = p_host AND m.private_ipv4 IS NULL AND m.state <> 'destroyed';
        IF FOUND THEN RETURN QUERY SELECT 'unaddressed', NULL::text, v_live; RETURN; END IF;
        -- The lowest address of the range its machines leave free: one of the first (machines + 1).
        SELECT min(s) INTO v_offset FROM generate_series(0, least(p_ipv4_slots, v_room.machines + 1) - 1) AS s
          WHERE host(p_ipv4_base::inet + s) NOT IN (
            SELECT m.private_ipv4 FROM machines m WHERE m.host_id = p_host AND m.state <> 'destroyed' AND m.private_ipv4 IS NOT NULL);
        IF v_offset IS NULL THEN RETURN QUERY SELECT 'full', NULL::text, v_live; RETURN; END IF;
        v_ipv4 := host(p_ipv4_base::inet + v_offset);
        v_doc := replace(v_doc, p_ipv4_token, to_json(v_ipv4)::text);
        v_work := replace(v_work, p_ipv4_token, to_json(v_ipv4)::text);
      END IF;
    END IF;
    INSERT INTO machines (id, app_name, name, region, state, rev, updated_at, metadata, doc, cpus, memory_mb, recent_events, host_id, private_ipv4)
      VALUES (p_id, p_app, p_name, p_region, p_state, 1, p_updated_at, p_metadata, v_doc, p_cpus, p_memory, p_recent, p_host, v_ipv4);
    INSERT INTO machine_versions (machine_id, version, doc) VALUES (p_id, p_version, p_version_doc);
    INSERT INTO machine_events (id, machine_id, doc) SELECT e.id, p_id, e.doc FROM unnest(p_event_ids, p_event_docs) WITH ORDINALITY AS e (id, doc, n) ORDER BY e.n;
    IF v_work IS NOT NULL THEN
      INSERT INTO host_work (host_id, machine_id, doc) VALUES (p_host, p_id, v_work);
      PERFORM pg_notify(p_work_channel, p_host);
    END IF;
    -- Not announced: nobody but its creator waits for a machine that did not exist (its first change is).
    RETURN QUERY SELECT 'ok', v_ipv4, v_live;
  END $$;
  REVOKE ALL ON FUNCTION hangar_insert_machine FROM PUBLIC;
  `,
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
  // The private network across hosts: each host's end of it (what its peers send to, and its
  // WireGuard public key), which every host reads and each writes for itself only.
  `
  CREATE TABLE host_underlay (
    host_id text COLLATE "C" PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('wireguard', 'plain')),
    endpoint text NOT NULL,
    public_key text
  );
  ALTER TABLE host_underlay ENABLE ROW LEVEL SECURITY;
  CREATE POLICY underlay_read ON host_underlay FOR SELECT USING (true);
  CREATE POLICY own_underlay_insert ON host_underlay FOR INSERT WITH CHECK (host_id = hangar_current_host());
  CREATE POLICY own_underlay_update ON host_underlay FOR UPDATE USING (host_id = hangar_current_host());
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT SELECT, INSERT, UPDATE ON host_underlay TO hangar_hosts; END IF;
  END $$;
  `,
  // Each host's private DNS answers about every host's machines: what it needs of them
  // (where each is and what it answers as, nothing of their configs) and every app's
  // organization, read through functions, in the commit order as the change log is. A
  // document a host wrote (it may write its own machines) that does not parse reads
  // as nothing, so no row can stop every host's DNS from following; the app's and the
  // host's numbers come along, for the reader to check the address against.
  `
  CREATE FUNCTION hangar_try_jsonb(text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN RETURN $1::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$;
  CREATE FUNCTION hangar_directory_since(since xid8)
    RETURNS TABLE (id text, app_name text, region text, host_id text, state text, private_ip text, skip boolean, process_group text, horizon text,
      net_number integer, host_number integer)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
      WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)
      SELECT m.id, m.app_name, m.region, m.host_id, m.state, d.doc ->> 'privateIp',
        coalesce(d.doc -> 'config' -> 'dns' -> 'skip_registration' = 'true'::jsonb, false),
        CASE WHEN jsonb_typeof(d.doc -> 'config' -> 'metadata' -> 'fly_process_group') = 'string' THEN d.doc -> 'config' -> 'metadata' ->> 'fly_process_group' END,
        h.x::text, a.net_number, n.number
      FROM h LEFT JOIN machines m ON CASE WHEN since IS NULL THEN m.state <> 'destroyed' ELSE m.change_xid >= since AND m.change_xid < h.x END
      LEFT JOIN LATERAL (SELECT hangar_try_jsonb(m.doc) AS doc) d ON true
      LEFT JOIN apps a ON a.name = m.app_name LEFT JOIN host_numbers n ON n.host_id = m.host_id
      ORDER BY m.change_xid, m.id
    $$;
  CREATE FUNCTION hangar_directory_apps() RETURNS TABLE (name text, org_slug text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$ SELECT name, org_slug FROM apps ORDER BY name $$;
  `,
  // Every host's edge proxy routes to every host's machines: the directory also gives
  // what routing needs of a machine's config (its image, services, checks, size,
  // metadata and PRIMARY_REGION; no other environment, files or mounts), whether it
  // is cordoned and when it was made.
  `
  DROP FUNCTION hangar_directory_since(xid8);
  CREATE FUNCTION hangar_directory_since(since xid8)
    RETURNS TABLE (id text, app_name text, region text, host_id text, state text, private_ip text, skip boolean, process_group text, horizon text,
      net_number integer, host_number integer, cordoned boolean, created_at text, version text, routing jsonb)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
      WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)
      SELECT m.id, m.app_name, m.region, m.host_id, m.state, d.doc ->> 'privateIp',
        coalesce(d.doc -> 'config' -> 'dns' -> 'skip_registration' = 'true'::jsonb, false),
        CASE WHEN jsonb_typeof(d.doc -> 'config' -> 'metadata' -> 'fly_process_group') = 'string' THEN d.doc -> 'config' -> 'metadata' ->> 'fly_process_group' END,
        h.x::text, a.net_number, n.number,
        coalesce(d.doc -> 'cordoned' = 'true'::jsonb, false), d.doc ->> 'createdAt', d.doc ->> 'version',
        jsonb_strip_nulls(jsonb_build_object('image', d.doc -> 'config' -> 'image', 'services', d.doc -> 'config' -> 'services',
          'checks', d.doc -> 'config' -> 'checks', 'guest', d.doc -> 'config' -> 'guest', 'metadata', d.doc -> 'config' -> 'metadata',
          'env', CASE WHEN jsonb_typeof(d.doc -> 'config' -> 'env' -> 'PRIMARY_REGION') = 'string'
            THEN jsonb_build_object('PRIMARY_REGION', d.doc -> 'config' -> 'env' -> 'PRIMARY_REGION') END))
      FROM h LEFT JOIN machines m ON CASE WHEN since IS NULL THEN m.state <> 'destroyed' ELSE m.change_xid >= since AND m.change_xid < h.x END
      LEFT JOIN LATERAL (SELECT hangar_try_jsonb(m.doc) AS doc) d ON true
      LEFT JOIN apps a ON a.name = m.app_name LEFT JOIN host_numbers n ON n.host_id = m.host_id
      ORDER BY m.change_xid, m.id
    $$;
  `,
  // A host's edge proxy wakes (and retires) machines on other hosts, which it may not
  // write: it asks through a function that queues the request for the machine's host,
  // at most one of each kind per machine, and hints that host as its work is. Each
  // host takes its own requests and acts on them as it acts on its API's.
  `
  CREATE TABLE machine_requests (
    host_id text COLLATE "C" NOT NULL,
    machine_id text COLLATE "C" NOT NULL,
    action text NOT NULL CHECK (action IN ('start', 'stop', 'suspend')),
    app_name text COLLATE "C" NOT NULL,
    asked_by text,
    asked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (machine_id, action)
  );
  CREATE INDEX machine_requests_by_host ON machine_requests (host_id);
  ALTER TABLE machine_requests ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_requests_read ON machine_requests FOR SELECT USING (host_id = hangar_current_host());
  CREATE POLICY own_requests_take ON machine_requests FOR DELETE USING (host_id = hangar_current_host());
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT SELECT, DELETE ON machine_requests TO hangar_hosts; END IF;
  END $$;
  CREATE FUNCTION hangar_request_action(machine text, wanted text) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    DECLARE
      target text;
      app text;
      channel text;
    BEGIN
      IF wanted NOT IN ('start', 'stop', 'suspend') THEN RAISE EXCEPTION 'unknown action %', wanted; END IF;
      SELECT m.host_id, m.app_name INTO target, app FROM machines m WHERE m.id = machine AND m.state <> 'destroyed';
      IF target IS NULL THEN RETURN NULL; END IF;
      INSERT INTO machine_requests (host_id, machine_id, action, app_name, asked_by) VALUES (target, machine, wanted, app, hangar_current_host())
        ON CONFLICT (machine_id, action) DO UPDATE SET host_id = EXCLUDED.host_id, asked_at = now();
      channel := 'hangar_work_' || target;
      IF octet_length(channel) > 63 THEN channel := 'hangar_work_' || left(encode(sha256(convert_to(target, 'UTF8')), 'hex'), 40); END IF;
      PERFORM pg_notify(channel, '');
      RETURN target;
    END $$;
  `,
  // What each host's edge proxy has of each machine's traffic (requests in flight, the
  // last one's time), so that concurrency limits and idleness are the cluster's: every
  // host reads all of it and writes its own only.
  `
  CREATE TABLE proxy_activity (
    host_id text COLLATE "C" NOT NULL,
    machine_id text COLLATE "C" NOT NULL,
    in_flight integer NOT NULL CHECK (in_flight >= 0),
    last_active double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host_id, machine_id)
  );
  ALTER TABLE proxy_activity ENABLE ROW LEVEL SECURITY;
  CREATE POLICY activity_read ON proxy_activity FOR SELECT USING (true);
  CREATE POLICY own_activity_insert ON proxy_activity FOR INSERT WITH CHECK (host_id = hangar_current_host());
  CREATE POLICY own_activity_update ON proxy_activity FOR UPDATE USING (host_id = hangar_current_host());
  CREATE POLICY own_activity_delete ON proxy_activity FOR DELETE USING (host_id = hangar_current_host());
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hangar_hosts') THEN GRANT SELECT, INSERT, UPDATE, DELETE ON proxy_activity TO hangar_hosts; END IF;
  END $$;
  `,
  // Each host's proxy says so at once when an app's machines are all on lost hosts: the
  // hosts' states, which a host may read of the others through this function only.
  `
  CREATE FUNCTION hangar_host_states() RETURNS TABLE (id text, state text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$ SELECT id, state FROM hosts ORDER BY id $$;
  `,
];

/** Any constant works, as long as every hangar uses the same: "hangar" in ASCII. */
const MIGRATION_LOCK = 0x68616e676172;

/**
 * Brings the schema up to date: the migrations not yet recorded, in one transaction.
 * Refuses a database that a newer hangar has migrated past what this one knows.
 */
export async function migrate(pool: Connector, migrations: readonly string[] = MIGRATIONS): Promise<number> {
  // Up to date: nothing to lock or create (a host's own role may not).
  const current = await transaction(pool, async (db) => {
    const [known] = await rows<{ known: boolean }>(db, "SELECT to_regclass('hangar_migrations') IS NOT NULL AS known");
    if (!known?.known) return 0;
    const [row] = await rows<{ version: number | null }>(db, 'SELECT max(version) AS version FROM hangar_migrations');
    return row?.version ?? 0;
  });
  if (current === migrations.length) return 0;
  return transaction(pool, async (db: Sql) => {
    // Held until the transaction ends: another hangar opening now waits, then finds the work done.
    await rows(db, 'SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await rows(db, 'CREATE TABLE IF NOT EXISTS hangar_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const [row] = await rows<{ version: number | null }>(db, 'SELECT max(version) AS version FROM hangar_migrations');
    const applied = row?.version ?? 0;
    if (applied > migrations.length) {
      throw new Error(`the database's schema is at version ${applied}, newer than this hangar knows (${migrations.length}): run a newer hangar`);
    }
    for (let version = applied + 1; version <= migrations.length; version++) {
      await rows(db, migrations[version - 1] as string);
      await rows(db, 'INSERT INTO hangar_migrations (version) VALUES ($1)', [version]);
    }
    return migrations.length - applied;
  });
}
