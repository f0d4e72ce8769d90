/** Migrations that change how queries run, not what they answer (see migrations.ts). */
export const PLAN_MIGRATIONS: readonly string[] = [
  // Each host's directory read every machine of the cluster at each read of its
  // changes: its condition, one for both the first read (every live machine) and the
  // later ones (those changed since a place in the commit order), could not use the
  // index on the commit order, and a SQL function is planned again at each call. In
  // plpgsql the session keeps the plan, and the condition is a range of that index.
  // And each document was parsed once for every field taken from it (about 20
  // times): the planner put the lateral parse in place of each use; OFFSET 0 keeps
  // it one parse per row.
  // The first read now also stops at the horizon it returns, as the later ones do:
  // a machine committed past it comes in the next read (its reader reads once more
  // as it begins following, see DirectoryTable).
  `
  CREATE OR REPLACE FUNCTION hangar_directory_since(since xid8)
    RETURNS TABLE (id text, app_name text, region text, host_id text, state text, private_ip text, skip boolean, process_group text, horizon text,
      net_number integer, host_number integer, cordoned boolean, created_at text, version text, routing jsonb, kept boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    #variable_conflict use_column
    BEGIN
      RETURN QUERY
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
      FROM h LEFT JOIN machines m ON m.change_xid >= coalesce(since, '0'::xid8) AND m.change_xid < h.x AND (since IS NOT NULL OR m.state <> 'destroyed')
      LEFT JOIN LATERAL (SELECT hangar_try_jsonb(m.doc) AS doc OFFSET 0) d ON true
      LEFT JOIN apps a ON a.name = m.app_name LEFT JOIN host_numbers n ON n.host_id = m.host_id
      ORDER BY m.change_xid, m.id;
    END $$;
  `,
  // A request for another host's machine hinted that host's work channel with an
  // empty payload, as work does, so every work hint (one per create) also made the
  // host read its requests. The request's hint now says so (':requests', which no
  // host id can be, a work hint's payload being its host's id; see cluster-link.ts),
  // and each kind of hint wakes its own reader only.
  `
  CREATE OR REPLACE FUNCTION hangar_request_action(machine text, wanted text) RETURNS text
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
      PERFORM pg_notify(channel, ':requests');
      RETURN target;
    END $$;
  `,
  // A plpgsql function's statements take parameters, and PostgreSQL plans such a
  // statement afresh at each call until it judges a generic plan good enough, which
  // it did not for most of these: planning was about a seventh of its CPU in a burst
  // of creates. The statements of the functions each create, host report and
  // directory read runs look rows up by key or by an indexed range, for which the
  // generic plan is the plan: these functions use it from the first call. In the
  // cluster benchmark PostgreSQL's CPU per create fell by a sixth.
  `
  ALTER FUNCTION hangar_insert_machine SET plan_cache_mode = force_generic_plan;
  ALTER FUNCTION hangar_directory_since SET plan_cache_mode = force_generic_plan;
  ALTER FUNCTION hangar_recent_events SET plan_cache_mode = force_generic_plan;
  `,
  // Every host reads every machine's changes, and each read parsed each row's
  // document and built what the directory takes of it (a tenth of a millisecond
  // a row, 8 hosts reading each of a create's two commits). That projection is now
  // made once, as the row is written (a trigger no writer can pass by: hosts write
  // their own machines' rows), from one parse of the document (in plpgsql: a SQL
  // function's subquery would be folded into each use, a parse each), and read as it
  // is; its routing part comes as text, so that a reader that has the same text
  // already takes what it made of it before.
  `
  CREATE FUNCTION hangar_directory_of(p_doc text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
      doc jsonb := hangar_try_jsonb(p_doc);
      config jsonb := doc -> 'config';
    BEGIN
      RETURN jsonb_build_object(
        'privateIp', doc ->> 'privateIp',
        'skip', coalesce(config -> 'dns' -> 'skip_registration' = 'true'::jsonb, false),
        'processGroup', CASE WHEN jsonb_typeof(config -> 'metadata' -> 'fly_process_group') = 'string' THEN config -> 'metadata' ->> 'fly_process_group' END,
        'cordoned', coalesce(doc -> 'cordoned' = 'true'::jsonb, false), 'createdAt', doc ->> 'createdAt', 'version', doc ->> 'version',
        'routing', jsonb_strip_nulls(jsonb_build_object('image', config -> 'image', 'services', config -> 'services',
          'checks', config -> 'checks', 'guest', config -> 'guest', 'metadata', config -> 'metadata',
          'env', CASE WHEN jsonb_typeof(config -> 'env' -> 'PRIMARY_REGION') = 'string'
            THEN jsonb_build_object('PRIMARY_REGION', config -> 'env' -> 'PRIMARY_REGION') END)));
    END $$;
  ALTER TABLE machines ADD COLUMN directory jsonb;
  UPDATE machines SET directory = hangar_directory_of(doc);
  CREATE FUNCTION hangar_machine_directory() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.directory := hangar_directory_of(NEW.doc); RETURN NEW; END $$;
  CREATE TRIGGER machine_directory BEFORE INSERT OR UPDATE ON machines FOR EACH ROW EXECUTE FUNCTION hangar_machine_directory();
  DROP FUNCTION hangar_directory_since(xid8);
  CREATE FUNCTION hangar_directory_since(since xid8)
    RETURNS TABLE (id text, app_name text, region text, host_id text, state text, private_ip text, skip boolean, process_group text, horizon text,
      net_number integer, host_number integer, cordoned boolean, created_at text, version text, routing text, kept boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
    #variable_conflict use_column
    BEGIN
      RETURN QUERY
      WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)
      SELECT m.id, m.app_name, m.region, m.host_id, m.state, m.directory ->> 'privateIp', coalesce((m.directory ->> 'skip')::boolean, false),
        m.directory ->> 'processGroup', h.x::text, a.net_number, n.number, coalesce((m.directory ->> 'cordoned')::boolean, false),
        m.directory ->> 'createdAt', m.directory ->> 'version', (m.directory -> 'routing')::text,
        EXISTS (SELECT 1 FROM machine_moves k WHERE k.machine_id = m.id AND k.host_id = m.host_id AND k.private_ip = m.directory ->> 'privateIp')
      FROM h LEFT JOIN machines m ON m.change_xid >= coalesce(since, '0'::xid8) AND m.change_xid < h.x AND (since IS NOT NULL OR m.state <> 'destroyed')
      LEFT JOIN apps a ON a.name = m.app_name LEFT JOIN host_numbers n ON n.host_id = m.host_id
      ORDER BY m.change_xid, m.id;
    END $$;
  `,
  // Every statement of a host calls hangar_current_host, once or more (row-level
  // security), and a SQL function that may not be inlined (it is a security definer)
  // is parsed and planned again in each statement that calls it: about ten calls per
  // create, 40 µs each. In plpgsql its plan is made once per session.
  `
  CREATE OR REPLACE FUNCTION hangar_current_host() RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT
    AS $$ BEGIN RETURN (SELECT host_id FROM host_roles WHERE role_name = session_user); END $$;
  `,
  // The policies called it for each row they looked at; as a subquery of its own it is
  // called once per statement (the same answer: it depends on the session only).
  `
  ALTER POLICY own_number ON host_numbers WITH CHECK (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_machines ON machines USING (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_host_read ON hosts USING (id = (SELECT hangar_current_host()));
  ALTER POLICY own_host_insert ON hosts WITH CHECK (id = (SELECT hangar_current_host()));
  ALTER POLICY own_host_update ON hosts USING (id = (SELECT hangar_current_host()) AND state <> 'forgotten');
  ALTER POLICY own_work ON host_work USING (host_id = (SELECT hangar_current_host()))
    WITH CHECK (host_id = (SELECT hangar_current_host()) AND EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id));
  ALTER POLICY own_volumes ON volumes USING (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_underlay_insert ON host_underlay WITH CHECK (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_underlay_update ON host_underlay USING (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_requests_read ON machine_requests USING (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_requests_take ON machine_requests USING (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_activity_insert ON proxy_activity WITH CHECK (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_activity_update ON proxy_activity USING (host_id = (SELECT hangar_current_host()));
  ALTER POLICY own_activity_delete ON proxy_activity USING (host_id = (SELECT hangar_current_host()));
  `,
];
