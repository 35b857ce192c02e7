-- tracelink: a consortium traceability ledger inside PostgreSQL.
-- This script is assembled from sqlsrc/*.sql by the Makefile.

\echo Use "CREATE EXTENSION tracelink" to load this file. \quit

DO $$
BEGIN
    IF pg_catalog.current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'tracelink requires a UTF8 database'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Canonical JSON (RFC 8785) is defined over UTF-8 text.';
    END IF;
END
$$;

COMMENT ON SCHEMA tracelink IS 'tracelink: consortium ledger for product traceability';

-- Member roles.  NOLOGIN roles that the node's users are granted; nothing is
-- granted to PUBLIC.  They outlive the extension (roles are cluster-wide),
-- so they are created only when missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_reader') THEN
        CREATE ROLE tracelink_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_member') THEN
        CREATE ROLE tracelink_member NOLOGIN IN ROLE tracelink_reader;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_admin') THEN
        CREATE ROLE tracelink_admin NOLOGIN IN ROLE tracelink_member;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA tracelink FROM PUBLIC;
GRANT USAGE ON SCHEMA tracelink TO tracelink_reader;
