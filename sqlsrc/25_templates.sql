-- Process templates: a node saves a process definition under a name and
-- instantiates it, as is or changed, in other links.
--
-- Templates are node-local working material, NOT ledger entries: they are
-- never shared with the consortium (an organisation's process designs stay
-- its own until it puts a process into a link), they are replaced and
-- dropped freely (the ledger is append-only), and nothing on other nodes
-- depends on them.  What reaches the ledger is the process instantiated
-- from a template, once it is part of a link.  Writes go through the
-- SECURITY DEFINER functions below; members cannot write the table.

CREATE TABLE tracelink.templates (
    name        text PRIMARY KEY
                CHECK (name <> '' AND pg_catalog.octet_length(name) <= 200
                       AND name !~ '^[ \t\n\r\f\v]|[ \t\n\r\f\v]$'),
    definition  tracelink.process NOT NULL,
    description text,
    created_by  name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE tracelink.templates IS
    'node-local process templates (not on the ledger); written through tracelink.save_template and tracelink.drop_template';
COMMENT ON COLUMN tracelink.templates.name IS 'template name, unique on this node';
COMMENT ON COLUMN tracelink.templates.definition IS 'the process definition';
COMMENT ON COLUMN tracelink.templates.description IS 'free-form description';
COMMENT ON COLUMN tracelink.templates.created_by IS 'role that saved (or last replaced) the template';
COMMENT ON COLUMN tracelink.templates.created_at IS 'when it was saved (or last replaced)';

-- pg_dump keeps the rows (they are user data, not extension objects).
SELECT pg_catalog.pg_extension_config_dump('tracelink.templates', '');

REVOKE ALL ON tracelink.templates FROM PUBLIC;
GRANT SELECT ON tracelink.templates TO tracelink_reader;

-- The role on whose behalf a SECURITY DEFINER function runs: the role set
-- with SET ROLE, else the session user (current_user is the definer there).
CREATE FUNCTION tracelink.invoking_role() RETURNS name
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN pg_catalog.current_setting('role') = 'none'
                    THEN session_user
                    ELSE pg_catalog.current_setting('role')::pg_catalog.name END
    $$;
COMMENT ON FUNCTION tracelink.invoking_role() IS
    'the role a SECURITY DEFINER function acts for: the current SET ROLE, else the session user';

-- In a cluster with several tracelink databases, refuse a role that
-- nothing ties to this one (src/roles.c); SECURITY DEFINER functions pass
-- the role they act for.
CREATE FUNCTION tracelink._require_database_member(role name) RETURNS void
    AS 'MODULE_PATHNAME', 'tl_require_database_member_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink._require_database_member(name) IS
    'raise 42501 if the cluster holds another tracelink database and the role holds CONNECT on this one only through PUBLIC or tracelink''s shared roles';

-- Raise 22023 unless the text is a valid template name.
CREATE FUNCTION tracelink.check_template_name(template_name text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF template_name IS NULL THEN
        RAISE EXCEPTION 'template name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    ELSIF template_name = '' THEN
        RAISE EXCEPTION 'template name must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF pg_catalog.octet_length(template_name) > 200 THEN
        RAISE EXCEPTION 'template name must not be longer than 200 bytes'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF template_name ~ '^[ \t\n\r\f\v]|[ \t\n\r\f\v]$' THEN
        RAISE EXCEPTION 'template name "%" must not begin or end with whitespace', template_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink.check_template_name(text) IS
    'raise unless the text is a valid template name (non-empty, at most 200 bytes, no surrounding whitespace)';

-- Refuse to replace or drop another role's template unless the invoker is a
-- tracelink_admin.
CREATE FUNCTION tracelink.check_template_owner(template_name text, owner name, action text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    invoker name := tracelink.invoking_role();
BEGIN
    IF owner <> invoker AND NOT pg_catalog.pg_has_role(invoker, 'tracelink_admin', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to % template "%"', action, template_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('The template was saved by role "%s".', owner),
                  HINT = 'Only the role that saved a template or a tracelink_admin may replace or drop it.';
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink.check_template_owner(text, name, text) IS
    'raise 42501 unless the invoking role saved the template or is a tracelink_admin';

CREATE FUNCTION tracelink.save_template(name text, definition tracelink.process,
                                        description text DEFAULT NULL, replace boolean DEFAULT false)
    RETURNS void
    LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    invoker name := tracelink.invoking_role();
    owner name;
BEGIN
    PERFORM tracelink._require_database_member(invoker);
    PERFORM tracelink.check_template_name(save_template.name);
    IF save_template.definition IS NULL THEN
        RAISE EXCEPTION 'template definition must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF save_template.replace IS NULL THEN
        RAISE EXCEPTION 'argument "replace" must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    LOOP
        INSERT INTO tracelink.templates AS t (name, definition, description, created_by)
        VALUES (save_template.name, save_template.definition, save_template.description, invoker)
        ON CONFLICT ON CONSTRAINT templates_pkey DO NOTHING;
        IF FOUND THEN
            RETURN;
        END IF;
        IF NOT save_template.replace THEN
            RAISE EXCEPTION 'template "%" already exists', save_template.name
                USING ERRCODE = 'duplicate_object',
                      HINT = 'Pass replace => true to replace it.';
        END IF;
        SELECT t.created_by INTO owner FROM tracelink.templates AS t
         WHERE t.name = save_template.name FOR UPDATE;
        IF FOUND THEN
            PERFORM tracelink.check_template_owner(save_template.name, owner, 'replace');
            UPDATE tracelink.templates AS t
               SET definition = save_template.definition,
                   description = save_template.description,
                   created_by = invoker,
                   created_at = pg_catalog.now()
             WHERE t.name = save_template.name;
            RETURN;
        END IF;
        -- dropped concurrently: try the insert again
    END LOOP;
END
$$;
COMMENT ON FUNCTION tracelink.save_template(text, tracelink.process, text, boolean) IS
    'save a process definition as a named node-local template (42710 if it exists, unless replace)';

CREATE FUNCTION tracelink.template(name text) RETURNS tracelink.process
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    result tracelink.process;
BEGIN
    SELECT t.definition INTO result FROM tracelink.templates AS t WHERE t.name = template.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'template "%" does not exist', template.name
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION tracelink.template(text) IS 'the process definition saved under that template name (42704 if none)';

CREATE FUNCTION tracelink.instantiate_template(template text, process_name text DEFAULT NULL,
                                               changes jsonb DEFAULT NULL)
    RETURNS tracelink.process
    LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    result tracelink.process;
BEGIN
    IF instantiate_template.template IS NULL THEN
        RETURN NULL;
    END IF;
    result := tracelink.template(instantiate_template.template);
    IF changes IS NOT NULL THEN
        result := tracelink.merge_patch(result, changes);
    END IF;
    IF process_name IS NOT NULL THEN
        result := tracelink.merge_patch(result, pg_catalog.jsonb_build_object('name', process_name));
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION tracelink.instantiate_template(text, text, jsonb) IS
    'a process from a template: changes applied as an RFC 7386 merge patch, renamed when process_name is given, checked as by input';

CREATE FUNCTION tracelink.drop_template(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    owner name;
BEGIN
    PERFORM tracelink._require_database_member(tracelink.invoking_role());
    SELECT t.created_by INTO owner FROM tracelink.templates AS t
     WHERE t.name = drop_template.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'template "%" does not exist', drop_template.name
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM tracelink.check_template_owner(drop_template.name, owner, 'drop');
    DELETE FROM tracelink.templates AS t WHERE t.name = drop_template.name;
END
$$;
COMMENT ON FUNCTION tracelink.drop_template(text) IS 'drop a node-local template (42704 if none)';

GRANT EXECUTE ON FUNCTION
    tracelink.template(text), tracelink.instantiate_template(text, text, jsonb)
TO tracelink_reader;
GRANT EXECUTE ON FUNCTION
    tracelink.save_template(text, tracelink.process, text, boolean),
    tracelink.drop_template(text)
TO tracelink_member;
