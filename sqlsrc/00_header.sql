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
-- so they are created only when missing (docs/privacy.md, "Roles"):
--   tracelink_reader    the chain and public trace data
--   tracelink_auditor   reader, for verification and proofs (never private values)
--   tracelink_viewer    reader, and the private values and files this node holds
--   tracelink_recorder  viewer, and records for the (link, process) pairs granted to it
--   tracelink_member    viewer, and the whole API: records everywhere
--   tracelink_admin     member, and the node's administration
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_reader') THEN
        CREATE ROLE tracelink_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_auditor') THEN
        CREATE ROLE tracelink_auditor NOLOGIN IN ROLE tracelink_reader;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_viewer') THEN
        CREATE ROLE tracelink_viewer NOLOGIN IN ROLE tracelink_reader;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_recorder') THEN
        CREATE ROLE tracelink_recorder NOLOGIN IN ROLE tracelink_viewer;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_member') THEN
        CREATE ROLE tracelink_member NOLOGIN IN ROLE tracelink_reader, tracelink_viewer;
    END IF;
    -- a tracelink_member made by an earlier version lacks the viewer role
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                    WHERE m.roleid = 'tracelink_viewer'::pg_catalog.regrole
                      AND m.member = 'tracelink_member'::pg_catalog.regrole) THEN
        GRANT tracelink_viewer TO tracelink_member;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tracelink_admin') THEN
        CREATE ROLE tracelink_admin NOLOGIN IN ROLE tracelink_member;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA tracelink FROM PUBLIC;
GRANT USAGE ON SCHEMA tracelink TO tracelink_reader;
