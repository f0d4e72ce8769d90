/**
 * The schema's migrations for what hosts share across the cluster (see
 * migrations.ts): each host's end of the private network, the directory of every
 * host's machines (private DNS and edge proxy), the requests one host's proxy makes
 * of another's machines, the proxies' shared traffic, and the hosts' states.
 */
export const NETWORK_MIGRATIONS: readonly string[] = [
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
  // A machine moved to another host keeps its 6PN address, which lies in its former
  // host's /64: the replica that moved it records the address with its new host, and
  // only such a record (hosts may neither read nor write it) lets the directory give
  // a machine an address outside its host's /64 (a host writes its machines' records:
  // one claiming another's address would get its traffic). Peers route it as a /128.
  `
  CREATE TABLE machine_moves (
    machine_id text COLLATE "C" PRIMARY KEY,
    private_ip text NOT NULL,
    host_id text COLLATE "C" NOT NULL,
    moved_at timestamptz NOT NULL DEFAULT now()
  );
  ALTER TABLE machine_moves ENABLE ROW LEVEL SECURITY;
  DROP FUNCTION hangar_directory_since(xid8);
  CREATE FUNCTION hangar_directory_since(since xid8)
    RETURNS TABLE (id text, app_name text, region text, host_id text, state text, private_ip text, skip boolean, process_group text, horizon text,
      net_number integer, host_number integer, cordoned boolean, created_at text, version text, routing jsonb, kept boolean)
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
            THEN jsonb_build_object('PRIMARY_REGION', d.doc -> 'config' -> 'env' -> 'PRIMARY_REGION') END)),
        EXISTS (SELECT 1 FROM machine_moves k WHERE k.machine_id = m.id AND k.host_id = m.host_id AND k.private_ip = d.doc ->> 'privateIp')
      FROM h LEFT JOIN machines m ON CASE WHEN since IS NULL THEN m.state <> 'destroyed' ELSE m.change_xid >= since AND m.change_xid < h.x END
      LEFT JOIN LATERAL (SELECT hangar_try_jsonb(m.doc) AS doc) d ON true
      LEFT JOIN apps a ON a.name = m.app_name LEFT JOIN host_numbers n ON n.host_id = m.host_id
      ORDER BY m.change_xid, m.id
    $$;
  `,
];
