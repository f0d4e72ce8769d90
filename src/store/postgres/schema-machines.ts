/**
 * The schema's first migrations (see migrations.ts): apps, machines and their
 * history, volumes, hosts and their reservations, the work queued for hosts, each
 * host's own role and row-level security, and creates in one statement.
 */
export const MACHINE_MIGRATIONS: readonly string[] = [
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
];
