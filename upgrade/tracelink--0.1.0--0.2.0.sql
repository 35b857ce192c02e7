-- tracelink: upgrade from 0.1.0 to 0.2.0 (ALTER EXTENSION tracelink UPDATE).
--
-- Hand-written: every change made to sqlsrc/ since 0.1.0, so that an
-- upgraded database ends with exactly the catalog of a fresh
-- CREATE EXTENSION (t/094_upgrade_catalog.pl compares them object by
-- object).  docs/upgrades.md gives the rules; in short: new objects as in
-- sqlsrc/, with their COMMENT and GRANTs; changed functions with CREATE OR
-- REPLACE (or DROP and CREATE when the signature changes); new columns
-- with ALTER TABLE ADD COLUMN (and at the end of their CREATE TABLE in
-- sqlsrc/, where the upgrade puts them); new config tables registered
-- with pg_extension_config_dump(); the closing REVOKE stays last.

\echo Use "ALTER EXTENSION tracelink UPDATE" to load this file. \quit

-- sqlsrc/96_version.sql: tracelink.version()
CREATE FUNCTION tracelink.version(OUT extension text, OUT library text)
    AS 'MODULE_PATHNAME', 'tl_version'
    LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.version() IS
    'the SQL version of tracelink installed in this database (pg_extension.extversion) and the version of the loaded library (the newest SQL version it serves); when they differ, ALTER EXTENSION tracelink UPDATE brings the SQL up to the library';
GRANT EXECUTE ON FUNCTION tracelink.version() TO tracelink_reader;

-- sqlsrc/99_privileges.sql, last: nothing new is executable by PUBLIC.
REVOKE ALL ON ALL ROUTINES IN SCHEMA tracelink FROM PUBLIC;
