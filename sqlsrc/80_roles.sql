-- Roles inside a node (docs/privacy.md, "Roles"): which processes a
-- tracelink_recorder records for, and the private entries that only
-- tracelink_viewer (and the roles above it) may read.  The roles themselves
-- are made in 00_header.sql.

-- Recorder grants

CREATE TABLE tracelink.recorder_grants (
    role_name   name NOT NULL,
    link_id     bytea NOT NULL,
    process     text NOT NULL,
    granted_by  name NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (role_name, link_id, process)
);
COMMENT ON TABLE tracelink.recorder_grants IS
    'the (link, process) pairs a role without tracelink_member may record for (tracelink.grant_recorder()); node-local, never replicated; roles by name, so a dump restored with its roles keeps them';
SELECT pg_catalog.pg_extension_config_dump('tracelink.recorder_grants', '');

CREATE VIEW tracelink.recorders AS
SELECT g.role_name, l.name AS link, g.link_id, g.process, g.granted_by, g.granted_at,
       r.oid IS NOT NULL AS role_exists
  FROM tracelink.recorder_grants g
  LEFT JOIN tracelink.trace_links l ON l.link_id = g.link_id
  LEFT JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name;
COMMENT ON VIEW tracelink.recorders IS
    'recorder grants with the link''s name; role_exists is false for a grant whose role was dropped (it grants nothing)';

-- The link id of a grant's link (name or hex id), after checking the role
-- and process: 42704 for an unknown one, unless (revoking) a grant names it
-- still (a role dropped, a process removed since).
CREATE FUNCTION tracelink._recorder_grant_link(role name, link text, process text, revoking boolean)
    RETURNS bytea
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id bytea;
BEGIN
    IF role IS NULL OR process IS NULL THEN
        RAISE EXCEPTION 'role and process of a recorder grant must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    id := tracelink.link_id(link);
    IF revoking AND EXISTS (SELECT FROM tracelink.recorder_grants g
                             WHERE g.role_name = _recorder_grant_link.role AND g.link_id = id
                               AND g.process = _recorder_grant_link.process) THEN
        RETURN id;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = role) THEN
        RAISE EXCEPTION 'role "%" does not exist', role
            USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT FROM tracelink.link_processes p
                    WHERE p.link_id = id AND p.process = _recorder_grant_link.process) THEN
        RAISE EXCEPTION 'link "%" has no process "%"', link, process
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION tracelink._recorder_grant_link(name, text, text, boolean) IS
    'the link id of a recorder grant (link by name or hex id); 42704 for an unknown link, role or process, unless revoking a grant that names them';

CREATE FUNCTION tracelink.grant_recorder(role name, link text, process text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    invoker name := tracelink.invoking_role();
    id bytea;
BEGIN
    PERFORM tracelink._require_database_member(invoker);
    id := tracelink._recorder_grant_link(grant_recorder.role, grant_recorder.link,
                                         grant_recorder.process, false);
    INSERT INTO tracelink.recorder_grants (role_name, link_id, process, granted_by)
    VALUES (grant_recorder.role, id, grant_recorder.process, invoker)
    ON CONFLICT ON CONSTRAINT recorder_grants_pkey DO NOTHING;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION tracelink.grant_recorder(name, text, text) IS
    'lets a role (and the roles that have its privileges) record for a process of a link (name or hex id); for tracelink_admin; true when the grant is new';

CREATE FUNCTION tracelink.revoke_recorder(role name, link text, process text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id bytea;
BEGIN
    PERFORM tracelink._require_database_member(tracelink.invoking_role());
    id := tracelink._recorder_grant_link(revoke_recorder.role, revoke_recorder.link,
                                         revoke_recorder.process, true);
    DELETE FROM tracelink.recorder_grants g
     WHERE g.role_name = revoke_recorder.role AND g.link_id = id AND g.process = revoke_recorder.process;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION tracelink.revoke_recorder(name, text, text) IS
    'takes back a grant_recorder() grant (also of a role dropped since); for tracelink_admin; true when there was one';

-- Private entries: only viewers read them

-- Does the current role read private values?  The rule of the row security
-- policies below, evaluated once per query (an InitPlan).
CREATE FUNCTION tracelink._sees_private() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN pg_catalog.pg_has_role('tracelink_viewer', 'USAGE');
COMMENT ON FUNCTION tracelink._sees_private() IS
    'true when the current role has the privileges of tracelink_viewer (superusers too): it may read private values (entries of kind tl.trace.private)';

-- Row security on the tables that hold entries as they are: entries of kind
-- tl.trace.private carry private values and salts.  A restrictive policy
-- for tracelink_reader (and every role with its privileges) hides them
-- unless the role is a viewer; a permissive one keeps every row for the
-- roles that hold SELECT directly (peer logins: replication sends private
-- entries to their audience).  The owner and superusers bypass row
-- security: projectors, the apply worker, appends, dumps.  pg_dump leaves
-- the policies of an extension's tables out of a dump (CREATE EXTENSION
-- makes them again); t/070_dump_restore checks a restored node has them.
ALTER TABLE tracelink.ledger_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON tracelink.ledger_entries USING (true) WITH CHECK (true);
CREATE POLICY private_to_viewers ON tracelink.ledger_entries AS RESTRICTIVE FOR SELECT TO tracelink_reader
    USING (kind IS DISTINCT FROM 'tl.trace.private' OR (SELECT tracelink._sees_private()));
ALTER TABLE tracelink.inbox_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON tracelink.inbox_entries USING (true) WITH CHECK (true);
CREATE POLICY private_to_viewers ON tracelink.inbox_entries AS RESTRICTIVE FOR SELECT TO tracelink_reader
    USING (kind IS DISTINCT FROM 'tl.trace.private' OR (SELECT tracelink._sees_private()));
ALTER TABLE tracelink.quarantine ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON tracelink.quarantine USING (true) WITH CHECK (true);
CREATE POLICY private_to_viewers ON tracelink.quarantine AS RESTRICTIVE FOR SELECT TO tracelink_reader
    USING ((row_data ->> 'kind') IS DISTINCT FROM 'tl.trace.private' OR (SELECT tracelink._sees_private()));
COMMENT ON POLICY every_row ON tracelink.ledger_entries IS 'every row, for the roles the restrictive policy does not name (peer logins)';
COMMENT ON POLICY private_to_viewers ON tracelink.ledger_entries IS 'entries of kind tl.trace.private only for roles with the privileges of tracelink_viewer';
COMMENT ON POLICY every_row ON tracelink.inbox_entries IS 'every row, for the roles the restrictive policy does not name (peer logins)';
COMMENT ON POLICY private_to_viewers ON tracelink.inbox_entries IS 'entries of kind tl.trace.private only for roles with the privileges of tracelink_viewer';
COMMENT ON POLICY every_row ON tracelink.quarantine IS 'every row, for the roles the restrictive policy does not name';
COMMENT ON POLICY private_to_viewers ON tracelink.quarantine IS 'quarantined entries of kind tl.trace.private only for roles with the privileges of tracelink_viewer';

-- Privileges

GRANT SELECT ON tracelink.recorder_grants, tracelink.recorders TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink._sees_private() TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.grant_recorder(name, text, text),
                 tracelink.revoke_recorder(name, text, text)
    TO tracelink_admin;
GRANT EXECUTE ON FUNCTION tracelink.record(text, text, text, text, text, jsonb, text, jsonb, jsonb, timestamptz),
                 tracelink.record_batch(text, jsonb), tracelink.record_staged(text)
    TO tracelink_recorder;
GRANT SELECT, INSERT, DELETE ON tracelink.record_staging TO tracelink_recorder;
GRANT USAGE ON SEQUENCE tracelink.record_staging_id_seq TO tracelink_recorder;
