-- JSON Schema validation (draft-07, src/json_schema.c) and the GS1 EPCIS
-- schema the node checks EPCIS documents against.  The schema file cannot
-- ship with tracelink: the operator loads it (docs/json-schema.md).

CREATE FUNCTION tracelink.json_schema_problems(schema jsonb, doc jsonb,
                                               max_problems integer DEFAULT 100)
    RETURNS TABLE(path text, problem text)
    AS 'MODULE_PATHNAME', 'tl_json_schema_problems_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.json_schema_problems(jsonb, jsonb, integer) IS
    'The ways doc fails the JSON schema (draft-07): one row per problem, with its JSON path ($.a.b[2]), at most max_problems rows; none when doc is valid.  An unusable schema is an error (22023; 2201B for a pattern PostgreSQL cannot compile; 0A000 for a $ref outside the schema)';

-- The loaded GS1 EPCIS JSON schema: at most one row.
CREATE TABLE tracelink.epcis_schema (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    schema jsonb NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    sha256 bytea NOT NULL
);
-- read for every document checked: kept uncompressed
ALTER TABLE tracelink.epcis_schema ALTER COLUMN schema SET STORAGE EXTERNAL;
COMMENT ON TABLE tracelink.epcis_schema IS
    'The JSON schema EPCIS documents are checked against (GS1 EPCIS-JSON-Schema.json, loaded by the operator with set_epcis_schema()); one row';
COMMENT ON COLUMN tracelink.epcis_schema.singleton IS 'Always true: the table has one row at most';
COMMENT ON COLUMN tracelink.epcis_schema.schema IS 'The JSON schema (draft-07)';
COMMENT ON COLUMN tracelink.epcis_schema.loaded_at IS 'When it was loaded';
COMMENT ON COLUMN tracelink.epcis_schema.sha256 IS 'SHA-256 of its canonical JSON (RFC 8785), to compare with other nodes'' copies';
SELECT pg_catalog.pg_extension_config_dump('tracelink.epcis_schema', '');

CREATE FUNCTION tracelink.set_epcis_schema(schema jsonb) RETURNS bytea
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    declared text := schema OPERATOR(pg_catalog.->>) '$schema';
    digest bytea := tracelink.digest(schema);
BEGIN
    IF pg_catalog.jsonb_typeof(schema) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION 'an EPCIS JSON schema must be a JSON object, not %', pg_catalog.jsonb_typeof(schema)
            USING ERRCODE = '22023';
    END IF;
    IF declared IS NOT NULL AND
       pg_catalog.rtrim(declared, '#') OPERATOR(pg_catalog.<>) 'http://json-schema.org/draft-07/schema' THEN
        RAISE EXCEPTION 'the schema declares "$schema": "%", but only draft-07 is supported', declared
            USING ERRCODE = '22023',
                  HINT = 'Load GS1''s EPCIS-JSON-Schema.json, which is draft-07.';
    END IF;
    -- the schema's shape, its patterns and $refs (22023, 2201B, 0A000)
    PERFORM FROM tracelink.json_schema_problems(schema, 'null'::jsonb, 1);
    DELETE FROM tracelink.epcis_schema;
    INSERT INTO tracelink.epcis_schema (schema, sha256) VALUES (schema, digest);
    RETURN digest;
END
$$;
COMMENT ON FUNCTION tracelink.set_epcis_schema(jsonb) IS
    'Loads the JSON schema EPCIS documents are checked against (GS1 EPCIS-JSON-Schema.json, draft-07) after checking that it is one this node can apply; replaces the one loaded before; returns its SHA-256 (of its canonical JSON)';

CREATE FUNCTION tracelink.epcis_schema_problems(doc jsonb, max_problems integer DEFAULT 100)
    RETURNS TABLE(path text, problem text)
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    loaded jsonb;
BEGIN
    SELECT s.schema INTO loaded FROM tracelink.epcis_schema s;
    IF loaded IS NULL THEN
        RAISE EXCEPTION 'no EPCIS JSON schema is loaded'
            USING ERRCODE = '55000',
                  HINT = 'An administrator loads GS1''s EPCIS-JSON-Schema.json with SELECT tracelink.set_epcis_schema(pg_read_file(''/path/EPCIS-JSON-Schema.json'')::jsonb) (docs/json-schema.md).';
    END IF;
    RETURN QUERY SELECT p.path, p.problem
                   FROM tracelink.json_schema_problems(loaded, doc, max_problems) p;
END
$$;
COMMENT ON FUNCTION tracelink.epcis_schema_problems(jsonb, integer) IS
    'The ways doc fails the loaded EPCIS JSON schema (json_schema_problems() with the schema of set_epcis_schema()); none when it is valid; 55000 when no schema is loaded';

GRANT EXECUTE ON FUNCTION tracelink.json_schema_problems(jsonb, jsonb, integer),
                          tracelink.epcis_schema_problems(jsonb, integer) TO tracelink_reader;
GRANT SELECT ON tracelink.epcis_schema TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.set_epcis_schema(jsonb) TO tracelink_admin;
