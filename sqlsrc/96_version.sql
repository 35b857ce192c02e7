-- Versions (docs/upgrades.md): the SQL version installed in this database
-- and that of the loaded library, which serves every SQL version it can
-- be upgraded from.  They differ between installing a new library and
-- ALTER EXTENSION tracelink UPDATE.  Named versions(): pg_catalog.version()
-- would hide a tracelink.version() from every unqualified call.
CREATE FUNCTION tracelink.versions(OUT extension text, OUT library text)
    AS 'MODULE_PATHNAME', 'tl_versions'
    LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.versions() IS
    'the SQL version of tracelink installed in this database (pg_extension.extversion) and the version of the loaded library (the newest SQL version it serves); when they differ, ALTER EXTENSION tracelink UPDATE brings the SQL up to the library';
GRANT EXECUTE ON FUNCTION tracelink.versions() TO tracelink_reader;
