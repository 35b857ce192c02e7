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
-- Canonical JSON (RFC 8785) and SHA-256 digests over it.

CREATE FUNCTION tracelink.jcs(text) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_jcs_text'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.jcs(text) IS
    'RFC 8785 canonical form of JSON text: members sorted by UTF-16 code units, ECMAScript number formatting, minimal escaping; refuses duplicate keys, lone surrogates and numbers outside IEEE-754 double';

CREATE FUNCTION tracelink.jcs(jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_jcs_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.jcs(jsonb) IS
    'RFC 8785 canonical form of a jsonb value';

CREATE FUNCTION tracelink.digest(jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_digest_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.digest(jsonb) IS
    'SHA-256 of the RFC 8785 canonical bytes of a jsonb value';

GRANT EXECUTE ON FUNCTION tracelink.jcs(text), tracelink.jcs(jsonb), tracelink.digest(jsonb) TO tracelink_reader;
-- Trace link definitions: the types tracelink.stage, tracelink.process and
-- tracelink.link (C, src/deftypes.c over src/def_*.c), their casts,
-- equality, digests, accessors, validation and mesh.  The JSON format is
-- documented in docs/definitions.md.

-- Types ------------------------------------------------------------------

CREATE TYPE tracelink.stage;
CREATE TYPE tracelink.process;
CREATE TYPE tracelink.link;

CREATE FUNCTION tracelink.stage_in(cstring) RETURNS tracelink.stage
    AS 'MODULE_PATHNAME', 'tl_stage_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.stage_out(tracelink.stage) RETURNS cstring
    AS 'MODULE_PATHNAME', 'tl_definition_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.stage_recv(internal) RETURNS tracelink.stage
    AS 'MODULE_PATHNAME', 'tl_stage_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.stage_send(tracelink.stage) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_definition_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tracelink.process_in(cstring) RETURNS tracelink.process
    AS 'MODULE_PATHNAME', 'tl_process_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.process_out(tracelink.process) RETURNS cstring
    AS 'MODULE_PATHNAME', 'tl_definition_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.process_recv(internal) RETURNS tracelink.process
    AS 'MODULE_PATHNAME', 'tl_process_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.process_send(tracelink.process) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_definition_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tracelink.link_in(cstring) RETURNS tracelink.link
    AS 'MODULE_PATHNAME', 'tl_link_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.link_out(tracelink.link) RETURNS cstring
    AS 'MODULE_PATHNAME', 'tl_definition_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.link_recv(internal) RETURNS tracelink.link
    AS 'MODULE_PATHNAME', 'tl_link_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.link_send(tracelink.link) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_definition_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE tracelink.stage (
    INPUT = tracelink.stage_in, OUTPUT = tracelink.stage_out,
    RECEIVE = tracelink.stage_recv, SEND = tracelink.stage_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = extended
);
CREATE TYPE tracelink.process (
    INPUT = tracelink.process_in, OUTPUT = tracelink.process_out,
    RECEIVE = tracelink.process_recv, SEND = tracelink.process_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = extended
);
CREATE TYPE tracelink.link (
    INPUT = tracelink.link_in, OUTPUT = tracelink.link_out,
    RECEIVE = tracelink.link_recv, SEND = tracelink.link_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = extended
);

COMMENT ON TYPE tracelink.stage IS
    'stage of a process: role, members, order and forms of data items; JSON in, canonical JSON out';
COMMENT ON TYPE tracelink.process IS
    'process of a trace link: ordered stages, data inputs and outputs with data levels; JSON in, canonical JSON out';
COMMENT ON TYPE tracelink.link IS
    'trace link: basic info, process order, processes, invitations and voting rules; JSON in, canonical JSON out';

COMMENT ON FUNCTION tracelink.stage_in(cstring) IS 'input function of tracelink.stage: checks and normalises JSON';
COMMENT ON FUNCTION tracelink.stage_out(tracelink.stage) IS 'output function of tracelink.stage: canonical JSON';
COMMENT ON FUNCTION tracelink.stage_recv(internal) IS 'binary input of tracelink.stage: version byte and JSON, checked as by input';
COMMENT ON FUNCTION tracelink.stage_send(tracelink.stage) IS 'binary output of tracelink.stage: version byte and canonical JSON';
COMMENT ON FUNCTION tracelink.process_in(cstring) IS 'input function of tracelink.process: checks and normalises JSON';
COMMENT ON FUNCTION tracelink.process_out(tracelink.process) IS 'output function of tracelink.process: canonical JSON';
COMMENT ON FUNCTION tracelink.process_recv(internal) IS 'binary input of tracelink.process: version byte and JSON, checked as by input';
COMMENT ON FUNCTION tracelink.process_send(tracelink.process) IS 'binary output of tracelink.process: version byte and canonical JSON';
COMMENT ON FUNCTION tracelink.link_in(cstring) IS 'input function of tracelink.link: checks and normalises JSON';
COMMENT ON FUNCTION tracelink.link_out(tracelink.link) IS 'output function of tracelink.link: canonical JSON';
COMMENT ON FUNCTION tracelink.link_recv(internal) IS 'binary input of tracelink.link: version byte and JSON, checked as by input';
COMMENT ON FUNCTION tracelink.link_send(tracelink.link) IS 'binary output of tracelink.link: version byte and canonical JSON';

-- Casts to and from jsonb ------------------------------------------------

CREATE FUNCTION tracelink.stage(jsonb) RETURNS tracelink.stage
    AS 'MODULE_PATHNAME', 'tl_stage_from_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.process(jsonb) RETURNS tracelink.process
    AS 'MODULE_PATHNAME', 'tl_process_from_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.link(jsonb) RETURNS tracelink.link
    AS 'MODULE_PATHNAME', 'tl_link_from_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.jsonb(tracelink.stage) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_definition_to_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.jsonb(tracelink.process) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_definition_to_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.jsonb(tracelink.link) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_definition_to_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (jsonb AS tracelink.stage) WITH FUNCTION tracelink.stage(jsonb) AS ASSIGNMENT;
CREATE CAST (jsonb AS tracelink.process) WITH FUNCTION tracelink.process(jsonb) AS ASSIGNMENT;
CREATE CAST (jsonb AS tracelink.link) WITH FUNCTION tracelink.link(jsonb) AS ASSIGNMENT;
CREATE CAST (tracelink.stage AS jsonb) WITH FUNCTION tracelink.jsonb(tracelink.stage) AS ASSIGNMENT;
CREATE CAST (tracelink.process AS jsonb) WITH FUNCTION tracelink.jsonb(tracelink.process) AS ASSIGNMENT;
CREATE CAST (tracelink.link AS jsonb) WITH FUNCTION tracelink.jsonb(tracelink.link) AS ASSIGNMENT;

COMMENT ON FUNCTION tracelink.stage(jsonb) IS 'cast jsonb to tracelink.stage, checked and normalised as by input';
COMMENT ON FUNCTION tracelink.process(jsonb) IS 'cast jsonb to tracelink.process, checked and normalised as by input';
COMMENT ON FUNCTION tracelink.link(jsonb) IS 'cast jsonb to tracelink.link, checked and normalised as by input';
COMMENT ON FUNCTION tracelink.jsonb(tracelink.stage) IS 'cast tracelink.stage to jsonb';
COMMENT ON FUNCTION tracelink.jsonb(tracelink.process) IS 'cast tracelink.process to jsonb';
COMMENT ON FUNCTION tracelink.jsonb(tracelink.link) IS 'cast tracelink.link to jsonb';
COMMENT ON CAST (jsonb AS tracelink.stage) IS 'checked and normalised as by the input function';
COMMENT ON CAST (jsonb AS tracelink.process) IS 'checked and normalised as by the input function';
COMMENT ON CAST (jsonb AS tracelink.link) IS 'checked and normalised as by the input function';
COMMENT ON CAST (tracelink.stage AS jsonb) IS 'the canonical JSON as jsonb';
COMMENT ON CAST (tracelink.process AS jsonb) IS 'the canonical JSON as jsonb';
COMMENT ON CAST (tracelink.link AS jsonb) IS 'the canonical JSON as jsonb';

-- Equality and hashing: byte equality of the canonical form --------------

CREATE FUNCTION tracelink.definition_eq(tracelink.stage, tracelink.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_definition_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION tracelink.definition_ne(tracelink.stage, tracelink.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_definition_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION tracelink.definition_hash(tracelink.stage) RETURNS integer
    AS 'MODULE_PATHNAME', 'tl_definition_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.definition_hash_extended(tracelink.stage, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tl_definition_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.definition_eq(tracelink.process, tracelink.process) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_definition_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION tracelink.definition_ne(tracelink.process, tracelink.process) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_definition_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION tracelink.definition_hash(tracelink.process) RETURNS integer
    AS 'MODULE_PATHNAME', 'tl_definition_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.definition_hash_extended(tracelink.process, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tl_definition_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.definition_eq(tracelink.link, tracelink.link) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_definition_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION tracelink.definition_ne(tracelink.link, tracelink.link) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_definition_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION tracelink.definition_hash(tracelink.link) RETURNS integer
    AS 'MODULE_PATHNAME', 'tl_definition_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.definition_hash_extended(tracelink.link, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tl_definition_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION tracelink.definition_eq(tracelink.stage, tracelink.stage) IS 'implementation of = for tracelink.stage';
COMMENT ON FUNCTION tracelink.definition_ne(tracelink.stage, tracelink.stage) IS 'implementation of <> for tracelink.stage';
COMMENT ON FUNCTION tracelink.definition_hash(tracelink.stage) IS 'hash support for tracelink.stage';
COMMENT ON FUNCTION tracelink.definition_hash_extended(tracelink.stage, bigint) IS 'seeded hash support for tracelink.stage';
COMMENT ON FUNCTION tracelink.definition_eq(tracelink.process, tracelink.process) IS 'implementation of = for tracelink.process';
COMMENT ON FUNCTION tracelink.definition_ne(tracelink.process, tracelink.process) IS 'implementation of <> for tracelink.process';
COMMENT ON FUNCTION tracelink.definition_hash(tracelink.process) IS 'hash support for tracelink.process';
COMMENT ON FUNCTION tracelink.definition_hash_extended(tracelink.process, bigint) IS 'seeded hash support for tracelink.process';
COMMENT ON FUNCTION tracelink.definition_eq(tracelink.link, tracelink.link) IS 'implementation of = for tracelink.link';
COMMENT ON FUNCTION tracelink.definition_ne(tracelink.link, tracelink.link) IS 'implementation of <> for tracelink.link';
COMMENT ON FUNCTION tracelink.definition_hash(tracelink.link) IS 'hash support for tracelink.link';
COMMENT ON FUNCTION tracelink.definition_hash_extended(tracelink.link, bigint) IS 'seeded hash support for tracelink.link';

CREATE OPERATOR tracelink.= (
    LEFTARG = tracelink.stage, RIGHTARG = tracelink.stage, FUNCTION = tracelink.definition_eq,
    COMMUTATOR = OPERATOR(tracelink.=), NEGATOR = OPERATOR(tracelink.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES
);
CREATE OPERATOR tracelink.<> (
    LEFTARG = tracelink.stage, RIGHTARG = tracelink.stage, FUNCTION = tracelink.definition_ne,
    COMMUTATOR = OPERATOR(tracelink.<>), NEGATOR = OPERATOR(tracelink.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR tracelink.= (
    LEFTARG = tracelink.process, RIGHTARG = tracelink.process, FUNCTION = tracelink.definition_eq,
    COMMUTATOR = OPERATOR(tracelink.=), NEGATOR = OPERATOR(tracelink.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES
);
CREATE OPERATOR tracelink.<> (
    LEFTARG = tracelink.process, RIGHTARG = tracelink.process, FUNCTION = tracelink.definition_ne,
    COMMUTATOR = OPERATOR(tracelink.<>), NEGATOR = OPERATOR(tracelink.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR tracelink.= (
    LEFTARG = tracelink.link, RIGHTARG = tracelink.link, FUNCTION = tracelink.definition_eq,
    COMMUTATOR = OPERATOR(tracelink.=), NEGATOR = OPERATOR(tracelink.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES
);
CREATE OPERATOR tracelink.<> (
    LEFTARG = tracelink.link, RIGHTARG = tracelink.link, FUNCTION = tracelink.definition_ne,
    COMMUTATOR = OPERATOR(tracelink.<>), NEGATOR = OPERATOR(tracelink.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);

COMMENT ON OPERATOR tracelink.= (tracelink.stage, tracelink.stage) IS 'equal canonical forms';
COMMENT ON OPERATOR tracelink.<> (tracelink.stage, tracelink.stage) IS 'different canonical forms';
COMMENT ON OPERATOR tracelink.= (tracelink.process, tracelink.process) IS 'equal canonical forms';
COMMENT ON OPERATOR tracelink.<> (tracelink.process, tracelink.process) IS 'different canonical forms';
COMMENT ON OPERATOR tracelink.= (tracelink.link, tracelink.link) IS 'equal canonical forms';
COMMENT ON OPERATOR tracelink.<> (tracelink.link, tracelink.link) IS 'different canonical forms';

CREATE OPERATOR CLASS tracelink.stage_ops DEFAULT FOR TYPE tracelink.stage USING hash AS
    OPERATOR 1 tracelink.= (tracelink.stage, tracelink.stage),
    FUNCTION 1 tracelink.definition_hash(tracelink.stage),
    FUNCTION 2 tracelink.definition_hash_extended(tracelink.stage, bigint);
CREATE OPERATOR CLASS tracelink.process_ops DEFAULT FOR TYPE tracelink.process USING hash AS
    OPERATOR 1 tracelink.= (tracelink.process, tracelink.process),
    FUNCTION 1 tracelink.definition_hash(tracelink.process),
    FUNCTION 2 tracelink.definition_hash_extended(tracelink.process, bigint);
CREATE OPERATOR CLASS tracelink.link_ops DEFAULT FOR TYPE tracelink.link USING hash AS
    OPERATOR 1 tracelink.= (tracelink.link, tracelink.link),
    FUNCTION 1 tracelink.definition_hash(tracelink.link),
    FUNCTION 2 tracelink.definition_hash_extended(tracelink.link, bigint);

COMMENT ON OPERATOR CLASS tracelink.stage_ops USING hash IS 'hashing of tracelink.stage (DISTINCT, GROUP BY, hash joins and indexes)';
COMMENT ON OPERATOR CLASS tracelink.process_ops USING hash IS 'hashing of tracelink.process (DISTINCT, GROUP BY, hash joins and indexes)';
COMMENT ON OPERATOR CLASS tracelink.link_ops USING hash IS 'hashing of tracelink.link (DISTINCT, GROUP BY, hash joins and indexes)';
COMMENT ON OPERATOR FAMILY tracelink.stage_ops USING hash IS 'hashing of tracelink.stage';
COMMENT ON OPERATOR FAMILY tracelink.process_ops USING hash IS 'hashing of tracelink.process';
COMMENT ON OPERATOR FAMILY tracelink.link_ops USING hash IS 'hashing of tracelink.link';

-- Digests ----------------------------------------------------------------

CREATE FUNCTION tracelink.digest(tracelink.stage) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_definition_digest' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.digest(tracelink.process) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_definition_digest' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.digest(tracelink.link) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_definition_digest' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.digest(tracelink.stage) IS 'SHA-256 of the canonical (RFC 8785) bytes of the stage';
COMMENT ON FUNCTION tracelink.digest(tracelink.process) IS 'SHA-256 of the canonical (RFC 8785) bytes of the process';
COMMENT ON FUNCTION tracelink.digest(tracelink.link) IS 'SHA-256 of the canonical (RFC 8785) bytes of the link';

-- Accessors --------------------------------------------------------------

CREATE FUNCTION tracelink.name(tracelink.stage) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_definition_name' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.name(tracelink.process) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_definition_name' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.name(tracelink.link) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_definition_name' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.name(tracelink.stage) IS 'name of the stage';
COMMENT ON FUNCTION tracelink.name(tracelink.process) IS 'name of the process';
COMMENT ON FUNCTION tracelink.name(tracelink.link) IS 'name of the link';

CREATE FUNCTION tracelink.stages(tracelink.process) RETURNS SETOF tracelink.stage
    AS 'MODULE_PATHNAME', 'tl_process_stages' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION tracelink.stages(tracelink.process) IS 'stages of the process, in stage order';

CREATE FUNCTION tracelink.forms(tracelink.stage,
    OUT "position" integer, OUT name text, OUT key boolean, OUT description text, OUT items jsonb,
    OUT audience jsonb)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_stage_forms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION tracelink.forms(tracelink.stage) IS
    'forms of the stage, in order, with their data items as jsonb and their own audience (NULL when absent)';

CREATE FUNCTION tracelink.data_items(tracelink.process,
    OUT stage text, OUT form text, OUT key_form boolean, OUT item text, OUT description text,
    OUT creator text, OUT sources text[], OUT required boolean, OUT data_type text,
    OUT widget text, OUT options text[], OUT trace_code boolean, OUT audience jsonb)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_definition_data_items' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 32;
CREATE FUNCTION tracelink.data_items(tracelink.stage,
    OUT stage text, OUT form text, OUT key_form boolean, OUT item text, OUT description text,
    OUT creator text, OUT sources text[], OUT required boolean, OUT data_type text,
    OUT widget text, OUT options text[], OUT trace_code boolean, OUT audience jsonb)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_definition_data_items' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION tracelink.data_items(tracelink.process) IS
    'every data item of the process, by stage, form and item order; audience is the effective one (the item''s, else its form''s, else "public")';
COMMENT ON FUNCTION tracelink.data_items(tracelink.stage) IS
    'every data item of the stage, by form and item order; audience is the effective one (the item''s, else its form''s, else "public")';

CREATE FUNCTION tracelink.trace_code_items(tracelink.process,
    OUT stage text, OUT form text, OUT item text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_process_trace_code_items' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION tracelink.trace_code_items(tracelink.process) IS 'the trace-code acquisition items of the process';

CREATE FUNCTION tracelink.inputs(tracelink.process,
    OUT "position" integer, OUT name text, OUT producer text, OUT output text, OUT level integer)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_process_inputs' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;
COMMENT ON FUNCTION tracelink.inputs(tracelink.process) IS 'data inputs of the process: producer process, its output, data level';

CREATE FUNCTION tracelink.outputs(tracelink.process,
    OUT "position" integer, OUT name text, OUT level integer, OUT description text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_process_outputs' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;
COMMENT ON FUNCTION tracelink.outputs(tracelink.process) IS 'data outputs of the process with their data levels';

CREATE FUNCTION tracelink.processes(tracelink.link) RETURNS SETOF tracelink.process
    AS 'MODULE_PATHNAME', 'tl_link_processes' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION tracelink.processes(tracelink.link) IS 'processes of the link in process order (processes missing from the order last)';

CREATE FUNCTION tracelink.process(tracelink.link, name text) RETURNS tracelink.process
    AS 'MODULE_PATHNAME', 'tl_link_process' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.process(tracelink.link, text) IS 'the process of that name in the link, or NULL';

CREATE FUNCTION tracelink.process_order(tracelink.link) RETURNS text[]
    AS 'MODULE_PATHNAME', 'tl_link_process_order' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.process_order(tracelink.link) IS 'names of the target processes in process order';

CREATE FUNCTION tracelink.invitations(tracelink.link, OUT process text, OUT node text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_link_invitations' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION tracelink.invitations(tracelink.link) IS 'nodes invited to build each process, in process order';

CREATE FUNCTION tracelink.voting_rule(tracelink.link, purpose text DEFAULT 'adoption') RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_link_voting_rule' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.voting_rule(tracelink.link, text) IS
    'the link''s voting rule for ''adoption'' or ''modification'' (which defaults to the adoption rule); NULL when the system default applies';

CREATE FUNCTION tracelink.link_info(tracelink.link) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_link_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.link_info(tracelink.link) IS 'free-form basic info of the link';

CREATE FUNCTION tracelink.with_process(tracelink.link, tracelink.process) RETURNS tracelink.link
    AS 'MODULE_PATHNAME', 'tl_link_with_process_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.with_process(tracelink.link, tracelink.process) IS
    'the link with the process added, or replacing the process of the same name; process order unchanged';

CREATE FUNCTION tracelink.merge_patch(tracelink.stage, changes jsonb) RETURNS tracelink.stage
    AS 'MODULE_PATHNAME', 'tl_definition_merge_patch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.merge_patch(tracelink.process, changes jsonb) RETURNS tracelink.process
    AS 'MODULE_PATHNAME', 'tl_definition_merge_patch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.merge_patch(tracelink.link, changes jsonb) RETURNS tracelink.link
    AS 'MODULE_PATHNAME', 'tl_definition_merge_patch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.merge_patch(tracelink.stage, jsonb) IS 'RFC 7386 merge patch of the stage''s JSON, checked and normalised as by input';
COMMENT ON FUNCTION tracelink.merge_patch(tracelink.process, jsonb) IS 'RFC 7386 merge patch of the process''s JSON, checked and normalised as by input';
COMMENT ON FUNCTION tracelink.merge_patch(tracelink.link, jsonb) IS 'RFC 7386 merge patch of the link''s JSON, checked and normalised as by input';

-- Validation -------------------------------------------------------------

CREATE FUNCTION tracelink.validate(tracelink.stage, OUT path text, OUT code text, OUT message text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_definition_validate_rows' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1;
CREATE FUNCTION tracelink.validate(tracelink.process, OUT path text, OUT code text, OUT message text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_definition_validate_rows' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1;
CREATE FUNCTION tracelink.validate(tracelink.link, OUT path text, OUT code text, OUT message text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_definition_validate_rows' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION tracelink.validate(tracelink.stage) IS 'every problem of the stage (SQL/JSON path, TL code, message), in document order';
COMMENT ON FUNCTION tracelink.validate(tracelink.process) IS 'every problem of the process (SQL/JSON path, TL code, message), in document order';
COMMENT ON FUNCTION tracelink.validate(tracelink.link) IS 'every problem of the link and its processes (SQL/JSON path, TL code, message), in document order';

CREATE FUNCTION tracelink.validate_strict(tracelink.stage) RETURNS void
    AS 'MODULE_PATHNAME', 'tl_definition_validate_strict' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.validate_strict(tracelink.process) RETURNS void
    AS 'MODULE_PATHNAME', 'tl_definition_validate_strict' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tracelink.validate_strict(tracelink.link) RETURNS void
    AS 'MODULE_PATHNAME', 'tl_definition_validate_strict' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.validate_strict(tracelink.stage) IS 'raise the first problem of the stage with its TL SQLSTATE';
COMMENT ON FUNCTION tracelink.validate_strict(tracelink.process) IS 'raise the first problem of the process with its TL SQLSTATE';
COMMENT ON FUNCTION tracelink.validate_strict(tracelink.link) IS 'raise the first problem of the link with its TL SQLSTATE';

-- Mesh -------------------------------------------------------------------

CREATE FUNCTION tracelink.mesh(tracelink.link,
    OUT producer text, OUT output text, OUT consumer text, OUT input text, OUT level integer,
    OUT producer_layer integer, OUT consumer_layer integer)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_link_mesh' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION tracelink.mesh(tracelink.link) IS
    'data edges between the processes of the link with the topological layers of both ends';

CREATE FUNCTION tracelink.mesh_layers(tracelink.link, OUT process text, OUT layer integer, OUT "position" integer)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_link_mesh_layers' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION tracelink.mesh_layers(tracelink.link) IS
    'topological layering of the data graph: layer 0 has no inputs, then one more than the highest producer';

-- Privileges: everything here is pure, for readers (99_privileges.sql takes
-- every function away from PUBLIC) -----

REVOKE ALL ON TYPE tracelink.stage, tracelink.process, tracelink.link FROM PUBLIC;
GRANT USAGE ON TYPE tracelink.stage, tracelink.process, tracelink.link TO tracelink_reader;

GRANT EXECUTE ON FUNCTION
    tracelink.stage_in(cstring), tracelink.stage_out(tracelink.stage),
    tracelink.stage_recv(internal), tracelink.stage_send(tracelink.stage),
    tracelink.process_in(cstring), tracelink.process_out(tracelink.process),
    tracelink.process_recv(internal), tracelink.process_send(tracelink.process),
    tracelink.link_in(cstring), tracelink.link_out(tracelink.link),
    tracelink.link_recv(internal), tracelink.link_send(tracelink.link),
    tracelink.stage(jsonb), tracelink.process(jsonb), tracelink.link(jsonb),
    tracelink.jsonb(tracelink.stage), tracelink.jsonb(tracelink.process), tracelink.jsonb(tracelink.link),
    tracelink.definition_eq(tracelink.stage, tracelink.stage),
    tracelink.definition_ne(tracelink.stage, tracelink.stage),
    tracelink.definition_hash(tracelink.stage),
    tracelink.definition_hash_extended(tracelink.stage, bigint),
    tracelink.definition_eq(tracelink.process, tracelink.process),
    tracelink.definition_ne(tracelink.process, tracelink.process),
    tracelink.definition_hash(tracelink.process),
    tracelink.definition_hash_extended(tracelink.process, bigint),
    tracelink.definition_eq(tracelink.link, tracelink.link),
    tracelink.definition_ne(tracelink.link, tracelink.link),
    tracelink.definition_hash(tracelink.link),
    tracelink.definition_hash_extended(tracelink.link, bigint),
    tracelink.digest(tracelink.stage), tracelink.digest(tracelink.process), tracelink.digest(tracelink.link),
    tracelink.name(tracelink.stage), tracelink.name(tracelink.process), tracelink.name(tracelink.link),
    tracelink.stages(tracelink.process), tracelink.forms(tracelink.stage),
    tracelink.data_items(tracelink.process), tracelink.data_items(tracelink.stage),
    tracelink.trace_code_items(tracelink.process),
    tracelink.inputs(tracelink.process), tracelink.outputs(tracelink.process),
    tracelink.processes(tracelink.link), tracelink.process(tracelink.link, text),
    tracelink.process_order(tracelink.link), tracelink.invitations(tracelink.link),
    tracelink.voting_rule(tracelink.link, text), tracelink.link_info(tracelink.link),
    tracelink.with_process(tracelink.link, tracelink.process),
    tracelink.merge_patch(tracelink.stage, jsonb), tracelink.merge_patch(tracelink.process, jsonb),
    tracelink.merge_patch(tracelink.link, jsonb),
    tracelink.validate(tracelink.stage), tracelink.validate(tracelink.process), tracelink.validate(tracelink.link),
    tracelink.validate_strict(tracelink.stage), tracelink.validate_strict(tracelink.process),
    tracelink.validate_strict(tracelink.link),
    tracelink.mesh(tracelink.link), tracelink.mesh_layers(tracelink.link)
TO tracelink_reader;
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
-- Hashes, signatures and Merkle proofs: SHA-256, Ed25519 (libsodium) and
-- RFC 6962 / RFC 9162 Merkle trees.  Functions that build raise on bad
-- input; the verify functions are not STRICT and answer false to anything
-- malformed, never an error.

CREATE FUNCTION tracelink.sha256(data bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_sha256_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.sha256(bytea) IS
    'SHA-256 digest (32 bytes) of the data, through the same code path as every hash in the ledger';

CREATE FUNCTION tracelink.merkle_leaf_hash(data bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_merkle_leaf_hash_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.merkle_leaf_hash(bytea) IS
    'RFC 6962 leaf hash: SHA-256(0x00 || data)';

CREATE FUNCTION tracelink.merkle_root(leaves bytea[]) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_merkle_root_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.merkle_root(bytea[]) IS
    'RFC 6962 Merkle tree head of the raw leaf data in array order; SHA-256 of the empty string for an empty array; NULL leaves are refused';

CREATE FUNCTION tracelink.merkle_inclusion_proof(leaves bytea[], leaf_index bigint) RETURNS bytea[]
    AS 'MODULE_PATHNAME', 'tl_merkle_inclusion_proof_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.merkle_inclusion_proof(bytea[], bigint) IS
    'RFC 9162 inclusion proof (sibling hashes, leaf side first) of the 0-based leaf_index in the tree of the raw leaf data';

CREATE FUNCTION tracelink.merkle_consistency_proof(leaves bytea[], old_size bigint) RETURNS bytea[]
    AS 'MODULE_PATHNAME', 'tl_merkle_consistency_proof_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.merkle_consistency_proof(bytea[], bigint) IS
    'RFC 9162 consistency proof from the tree of the first old_size leaves (1 <= old_size <= all) to the tree of all the raw leaf data; empty when old_size is all of them';

CREATE FUNCTION tracelink.verify_inclusion(leaf_index bigint, tree_size bigint, leaf_hash bytea,
                                           proof bytea[], root bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_verify_inclusion_sql'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.verify_inclusion(bigint, bigint, bytea, bytea[], bytea) IS
    'RFC 9162 inclusion proof check: true when proof shows leaf_hash at 0-based leaf_index in the tree of tree_size leaves with head root; false for anything malformed (NULLs, wrong lengths, sizes or shapes), never an error';

CREATE FUNCTION tracelink.verify_consistency(old_size bigint, new_size bigint, old_root bytea,
                                             new_root bytea, proof bytea[]) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_verify_consistency_sql'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.verify_consistency(bigint, bigint, bytea, bytea, bytea[]) IS
    'RFC 9162 consistency proof check: true when proof shows the tree (old_size, old_root) is a prefix of the tree (new_size, new_root); false from size 0 and for anything malformed, never an error';

CREATE FUNCTION tracelink.ed25519_public_key(seed bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_ed25519_public_key_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.ed25519_public_key(bytea) IS
    'Ed25519 public key (32 bytes) of a 32-byte seed (the RFC 8032 secret key)';

CREATE FUNCTION tracelink.ed25519_sign(seed bytea, message bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_ed25519_sign_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.ed25519_sign(bytea, bytea) IS
    'Ed25519 signature (64 bytes, RFC 8032, deterministic) of the message with a key the caller supplies as its 32-byte seed; never uses the node key';

CREATE FUNCTION tracelink.ed25519_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_ed25519_verify_sql'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.ed25519_verify(bytea, bytea, bytea) IS
    'Ed25519 signature check with libsodium''s strict policy; false for NULLs and wrong key or signature lengths, never an error';

GRANT EXECUTE ON FUNCTION
    tracelink.sha256(bytea),
    tracelink.merkle_leaf_hash(bytea),
    tracelink.merkle_root(bytea[]),
    tracelink.merkle_inclusion_proof(bytea[], bigint),
    tracelink.merkle_consistency_proof(bytea[], bigint),
    tracelink.verify_inclusion(bigint, bigint, bytea, bytea[], bytea),
    tracelink.verify_consistency(bigint, bigint, bytea, bytea, bytea[]),
    tracelink.ed25519_public_key(bytea),
    tracelink.ed25519_sign(bytea, bytea),
    tracelink.ed25519_verify(bytea, bytea, bytea)
  TO tracelink_reader;
-- The ledger: nodes, entries, blocks, heads; append, seal (at commit),
-- verification, export and proofs.  docs/ledger.md describes the format.

-- The node-name rule, the one used everywhere (src/ledger_rows.c): 1 to 63
-- characters, a lowercase letter, then lowercase letters, digits or
-- underscores.  NULL for NULL; callers raise their own errors.
CREATE FUNCTION tracelink._valid_node_name(name text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_valid_node_name_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink._valid_node_name(text) IS
    'whether name is a valid node name (src/ledger_rows.c, the one rule): [a-z][a-z0-9_]{0,62}';

CREATE TABLE tracelink.nodes (
    name        text COLLATE "C" PRIMARY KEY,
    public_key  bytea NOT NULL,
    is_local    boolean NOT NULL DEFAULT false,
    added_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT node_name_format CHECK (tracelink._valid_node_name(name)),
    CONSTRAINT node_public_key_length CHECK (pg_catalog.length(public_key) = 32)
);
CREATE UNIQUE INDEX nodes_one_local ON tracelink.nodes (is_local) WHERE is_local;
COMMENT ON TABLE tracelink.nodes IS
    'Nodes this database knows: itself (is_local) and its peers, each with the Ed25519 public key of its genesis block, pinned out of band';
COMMENT ON COLUMN tracelink.nodes.public_key IS 'genesis public key (32 bytes); later keys come from signed rotation entries';

CREATE SEQUENCE tracelink.ledger_tx_seq AS bigint;
COMMENT ON SEQUENCE tracelink.ledger_tx_seq IS
    'numbers the transactions that append entries; a number ties a transaction''s entries to its block';

CREATE TABLE tracelink.ledger_entries (
    origin      text COLLATE "C" NOT NULL,
    tx          bigint NOT NULL,
    seq         integer NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    payload     text NOT NULL,
    deps        bytea[],
    audience    text[] COLLATE "C",
    entry_hash  bytea NOT NULL
);
-- One index only, on the append path's budget: entry hashes are unique by
-- construction (they cover origin, tx and seq) and a hash index finds them.
-- (origin, tx, seq) is unique because the chain makes it so (verify()
-- checks it); scans of whole chains join blocks to entries on (origin, tx).
CREATE INDEX ledger_entries_hash ON tracelink.ledger_entries USING hash (entry_hash);
COMMENT ON TABLE tracelink.ledger_entries IS
    'Append-only ledger entries; entry_hash = SHA-256 of the entry''s canonical JSON (docs/ledger.md)';
COMMENT ON COLUMN tracelink.ledger_entries.tx IS 'origin-local transaction number; the block with the same (origin, tx) seals the entry';
COMMENT ON COLUMN tracelink.ledger_entries.seq IS 'position of the entry in its block, from 0';
COMMENT ON COLUMN tracelink.ledger_entries.payload IS 'RFC 8785 canonical JSON';
COMMENT ON COLUMN tracelink.ledger_entries.deps IS 'hashes of the entries this one depends on, sorted (NULL: none)';
COMMENT ON COLUMN tracelink.ledger_entries.audience IS 'nodes the entry is for (NULL: every peer)';

CREATE TABLE tracelink.ledger_blocks (
    origin        text COLLATE "C" NOT NULL,
    block_no      bigint NOT NULL,
    tx            bigint NOT NULL,
    entry_count   integer NOT NULL,
    entry_hashes  bytea NOT NULL,
    entries_root  bytea NOT NULL,
    tree_size     bigint NOT NULL,
    tree_root     bytea NOT NULL,
    prev_hash     bytea NOT NULL,
    sealed_at     timestamptz NOT NULL,
    signer_key    bytea NOT NULL,
    next_key      bytea,
    block_hash    bytea NOT NULL,
    signature     bytea NOT NULL,
    PRIMARY KEY (origin, block_no),
    CONSTRAINT ledger_blocks_tx UNIQUE (origin, tx)
);
CREATE INDEX ledger_blocks_tree_size ON tracelink.ledger_blocks (origin, tree_size);
COMMENT ON TABLE tracelink.ledger_blocks IS
    'One block per transaction and origin: hash-chained, with the RFC 6962 root of its entries and of the origin''s whole tree, signed by the origin''s Ed25519 key';
COMMENT ON COLUMN tracelink.ledger_blocks.entry_hashes IS 'the hashes of the block''s entries, 32 bytes each, in seq order';
COMMENT ON COLUMN tracelink.ledger_blocks.entries_root IS 'RFC 6962 root over the block''s entry hashes';
COMMENT ON COLUMN tracelink.ledger_blocks.tree_size IS 'entries of this origin up to and including this block';
COMMENT ON COLUMN tracelink.ledger_blocks.tree_root IS 'RFC 6962 root over all entry hashes of this origin up to this block: with the signature, a signed tree head';
COMMENT ON COLUMN tracelink.ledger_blocks.next_key IS 'set when the block hands over to a new key (a key rotation): it signs the blocks that follow';
COMMENT ON COLUMN tracelink.ledger_blocks.block_hash IS 'SHA-256 of the block''s canonical JSON header (docs/ledger.md)';
COMMENT ON COLUMN tracelink.ledger_blocks.signature IS 'Ed25519 signature of block_hash by signer_key';

CREATE TABLE tracelink.ledger_heads (
    origin      text COLLATE "C" PRIMARY KEY,
    block_no    bigint NOT NULL,
    block_hash  bytea NOT NULL,
    tree_size   bigint NOT NULL,
    frontier    bytea NOT NULL,
    signer_key  bytea NOT NULL,
    applied_at  timestamptz NOT NULL
);
COMMENT ON TABLE tracelink.ledger_heads IS
    'Latest block of each origin, the compact Merkle range of its tree, and the key that signs its next block; kept by tracelink, checked by verify()';
COMMENT ON COLUMN tracelink.ledger_heads.applied_at IS 'when this node sealed (own chain) or applied (a peer''s) the latest block';

-- A view giving each entry its ordinal (leaf index in its origin's tree).
-- security_invoker: the row security of ledger_entries (private entries,
-- docs/privacy.md) applies to the role that reads the view.
CREATE VIEW tracelink.ledger WITH (security_invoker = true) AS
SELECT e.origin,
       b.tree_size - b.entry_count + e.seq AS ordinal,
       b.block_no,
       e.seq,
       e.kind,
       e.payload::jsonb AS payload,
       e.deps,
       e.audience,
       e.entry_hash,
       b.sealed_at
  FROM tracelink.ledger_entries e
  JOIN tracelink.ledger_blocks b ON b.origin = e.origin AND b.tx = e.tx;
COMMENT ON VIEW tracelink.ledger IS
    'Sealed ledger entries with their ordinal, block and time; payload as jsonb';

-- Append-only: UPDATE, DELETE and TRUNCATE are refused, also for the apply
-- worker of logical replication (ALWAYS).
CREATE FUNCTION tracelink.refuse_ledger_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tl_refuse_ledger_change'
    LANGUAGE C;
COMMENT ON FUNCTION tracelink.refuse_ledger_change() IS
    'trigger: refuses UPDATE, DELETE and TRUNCATE of ledger tables';

CREATE FUNCTION tracelink.ledger_row_inserted() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tl_ledger_row_inserted'
    LANGUAGE C;
COMMENT ON FUNCTION tracelink.ledger_row_inserted() IS
    'trigger: refuses rows written to ledger tables by SQL instead of by tracelink';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ledger_entries', 'ledger_blocks'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON tracelink.%I
                 FOR EACH ROW EXECUTE FUNCTION tracelink.refuse_ledger_change()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON tracelink.%I
                 FOR EACH STATEMENT EXECUTE FUNCTION tracelink.refuse_ledger_change()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER written_by_tracelink BEFORE INSERT ON tracelink.%I
                 FOR EACH ROW EXECUTE FUNCTION tracelink.ledger_row_inserted()', t);
        EXECUTE pg_catalog.format('ALTER TABLE tracelink.%I ENABLE ALWAYS TRIGGER append_only', t);
        EXECUTE pg_catalog.format('ALTER TABLE tracelink.%I ENABLE ALWAYS TRIGGER append_only_truncate', t);
        EXECUTE pg_catalog.format('ALTER TABLE tracelink.%I ENABLE ALWAYS TRIGGER written_by_tracelink', t);
    END LOOP;
END
$$;

-- Node identity

CREATE FUNCTION tracelink.init_node(name text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_init_node'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.init_node(text) IS
    'makes this database the node "name": creates its Ed25519 key pair (secret in tracelink.key_directory, never in a table) and its genesis entry; returns the public key';

CREATE FUNCTION tracelink.node_name() RETURNS text
    AS 'MODULE_PATHNAME', 'tl_node_name'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.node_name() IS 'name of this node, or NULL before init_node()';

CREATE FUNCTION tracelink.node_public_key() RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_node_public_key'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.node_public_key() IS
    'the public key that signs this node''s next block';

CREATE FUNCTION tracelink.rotate_key() RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_rotate_key'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.rotate_key() IS
    'creates a new node key and appends the hand-over entry (signed with the current key); blocks after this transaction''s are signed with the new key; returns the new public key';

-- Appending

CREATE FUNCTION tracelink.append(kind text, payload jsonb, deps bytea[] DEFAULT '{}') RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_append'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.append(text, jsonb, bytea[]) IS
    'appends an entry to this node''s chain and returns its hash; the transaction''s entries are sealed into one signed block at commit. Kinds starting with "tl." are reserved';

CREATE FUNCTION tracelink.entry_preimage(kind text, payload jsonb, deps bytea[], origin text, tx bigint, seq integer, audience text[] DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_entry_preimage_sql'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.entry_preimage(text, jsonb, bytea[], text, bigint, integer, text[]) IS
    'the canonical JSON whose SHA-256 is the entry hash (for auditors and tests); deps NULL means none';

-- Verification, export and proofs

CREATE TYPE tracelink.verification AS (
    origin     text,
    entries    bigint,
    blocks     bigint,
    ok         boolean,
    first_bad  text,
    reason     text
);
COMMENT ON TYPE tracelink.verification IS 'one origin''s result from tracelink.verify()';

-- SECURITY DEFINER: it checks the entries a role may not read (private
-- ones, docs/privacy.md) and returns only what does not fit.
CREATE FUNCTION tracelink.verify(origin text DEFAULT NULL) RETURNS SETOF tracelink.verification
    AS 'MODULE_PATHNAME', 'tl_verify'
    LANGUAGE C STABLE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION tracelink.verify(text) IS
    'recomputes every entry hash, Merkle root, tree head, block link and signature of each origin (or one), checks the recorded head, and names the first thing that does not fit';

CREATE FUNCTION tracelink.export(origin text, from_block bigint DEFAULT 0) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'tl_export'
    LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.export(text, bigint) IS
    'an origin''s ledger as JSON Lines (docs/ledger.md) for the standalone verifier tools/tracelink-verify';

CREATE FUNCTION tracelink.signed_tree_head(origin text DEFAULT NULL, tree_size bigint DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_signed_tree_head'
    LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.signed_tree_head(text, bigint) IS
    'the signed tree head of an origin (default: this node) at a block boundary (default: the latest block): the block header, its hash and signature';

CREATE FUNCTION tracelink.tree_root(origin text, tree_size bigint) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_tree_root'
    LANGUAGE C STABLE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.tree_root(text, bigint) IS
    'RFC 6962 root over the first tree_size entries of an origin (unsigned; signed heads exist at block boundaries)';

CREATE TYPE tracelink.inclusion AS (
    origin            text,
    leaf_index        bigint,
    tree_size         bigint,
    leaf_hash         bytea,
    proof             bytea[],
    tree_root         bytea,
    signed_tree_head  jsonb
);
COMMENT ON TYPE tracelink.inclusion IS 'an entry''s RFC 6962 inclusion proof against a signed tree head';

CREATE FUNCTION tracelink.inclusion_proof(entry_hash bytea, tree_size bigint DEFAULT NULL) RETURNS SETOF tracelink.inclusion
    AS 'MODULE_PATHNAME', 'tl_inclusion_proof'
    LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.inclusion_proof(bytea, bigint) IS
    'proof that an entry is in its origin''s tree of the given size (default: latest); check with verify_inclusion(leaf_index, tree_size, leaf_hash, proof, tree_root) and verify_tree_head()';

CREATE TYPE tracelink.consistency AS (
    old_size          bigint,
    new_size          bigint,
    old_root          bytea,
    new_root          bytea,
    proof             bytea[],
    signed_tree_head  jsonb
);
COMMENT ON TYPE tracelink.consistency IS 'an RFC 6962 consistency proof between two sizes of an origin''s tree';

CREATE FUNCTION tracelink.consistency_proof(origin text, old_size bigint, new_size bigint DEFAULT NULL) RETURNS SETOF tracelink.consistency
    AS 'MODULE_PATHNAME', 'tl_consistency_proof'
    LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.consistency_proof(text, bigint, bigint) IS
    'proof that an origin''s tree of new_size (a block boundary; default latest) extends its tree of old_size; check with verify_consistency()';

CREATE FUNCTION tracelink.verify_tree_head(tree_head jsonb, public_key bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_verify_tree_head'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.verify_tree_head(jsonb, bytea) IS
    'true when a signed tree head is well formed, its block hash matches its fields and public_key signed it; false (never an error) otherwise';

GRANT EXECUTE ON FUNCTION tracelink.verify(text), tracelink.export(text, bigint),
                 tracelink.signed_tree_head(text, bigint), tracelink.tree_root(text, bigint),
                 tracelink.inclusion_proof(bytea, bigint),
                 tracelink.consistency_proof(text, bigint, bigint),
                 tracelink.verify_tree_head(jsonb, bytea)
    TO tracelink_reader;

GRANT SELECT ON tracelink.nodes, tracelink.ledger_entries, tracelink.ledger_blocks,
                tracelink.ledger_heads, tracelink.ledger TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.node_name(), tracelink.node_public_key(),
                 tracelink.entry_preimage(text, jsonb, bytea[], text, bigint, integer, text[])
    TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.append(text, jsonb, bytea[]) TO tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink.init_node(text), tracelink.rotate_key() TO tracelink_admin;
-- Witnessing heads: each node records, as tl.witness entries on its own
-- chain, the latest signed head it holds of every other origin, and checks
-- the heads its peers witness against its own copy (src/witness.c,
-- docs/ledger.md "Witnessing heads").  An origin that showed different
-- blocks with one number to different peers (a split view) is caught this
-- way even when no node received both blocks.

-- When this node last witnessed, and since when it holds something it has
-- not witnessed yet.  One row, written by the apply path and witness().
CREATE TABLE tracelink.witness_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_witness_at  timestamptz,
    last_witness     bytea,
    news_since       timestamptz
);
COMMENT ON TABLE tracelink.witness_state IS
    'this node''s witnessing: when it last appended a tl.witness entry, and since when it holds blocks or evidence not yet witnessed (one row, made on first use)';
COMMENT ON COLUMN tracelink.witness_state.singleton IS 'always true: the table has one row';
COMMENT ON COLUMN tracelink.witness_state.last_witness_at IS 'when this node last appended a tl.witness entry';
COMMENT ON COLUMN tracelink.witness_state.last_witness IS 'the hash of that entry';
COMMENT ON COLUMN tracelink.witness_state.news_since IS
    'since when a peer''s block (other than a witness) or an equivocation waits to be witnessed; NULL: nothing waits';

-- Heads a peer witnessed beyond this node's copy of their origin: checked
-- when the copy reaches them (never dropped before), so that the outcome
-- does not depend on what arrived first.
CREATE TABLE tracelink.witness_pending (
    origin         text COLLATE "C" NOT NULL,
    block_no       bigint NOT NULL,
    block_hash     bytea NOT NULL,
    head           jsonb NOT NULL,
    witness_entry  bytea NOT NULL,
    witnessed_by   text COLLATE "C" NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (origin, block_no, block_hash)
);
COMMENT ON TABLE tracelink.witness_pending IS
    'signed heads that peers witnessed beyond this node''s copy of their origin; each is compared with the block of that number when this node applies it';
COMMENT ON COLUMN tracelink.witness_pending.head IS 'the witnessed signed head, as signed_tree_head() gives one';
COMMENT ON COLUMN tracelink.witness_pending.witness_entry IS 'hash of the first tl.witness entry that named this head';
COMMENT ON COLUMN tracelink.witness_pending.witnessed_by IS 'origin of that witness entry';

CREATE FUNCTION tracelink.witness(force boolean DEFAULT false) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_witness'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.witness(boolean) IS
    'appends a tl.witness entry with the latest signed head this node holds of every other origin (and equivocations not passed on yet) when something new waits to be witnessed, or always with force; returns its hash, or NULL when there was nothing to witness. For cron: docs/operations.md';

GRANT SELECT ON tracelink.witness_state, tracelink.witness_pending TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.witness(boolean) TO tracelink_admin;
-- Synchronising nodes by logical replication: peers, what waits, what was
-- refused, and how far each peer is.  docs/operations.md explains the setup.

-- Rows from peers that wait: entries for their block, blocks for their
-- predecessor.  Same columns as the ledger tables.
CREATE TABLE tracelink.inbox_entries (LIKE tracelink.ledger_entries INCLUDING DEFAULTS);
-- Two different entries may claim one place (origin, tx, seq): both wait,
-- and their block decides which it sealed (src/apply.c).
ALTER TABLE tracelink.inbox_entries ADD PRIMARY KEY (origin, tx, seq, entry_hash);
COMMENT ON TABLE tracelink.inbox_entries IS
    'entries received from peers whose block has not been applied yet';

CREATE TABLE tracelink.inbox_blocks (LIKE tracelink.ledger_blocks INCLUDING DEFAULTS);
ALTER TABLE tracelink.inbox_blocks ADD PRIMARY KEY (origin, block_no);
COMMENT ON TABLE tracelink.inbox_blocks IS
    'blocks received from peers ahead of their origin''s head, waiting for their predecessor';

CREATE TABLE tracelink.apply_queue (
    entry_hash   bytea PRIMARY KEY,
    origin       text COLLATE "C" NOT NULL,
    tx           bigint NOT NULL,
    seq          integer NOT NULL,
    waiting_for  bytea[] NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE tracelink.apply_queue IS
    'verified entries from peers that take effect once the entries they depend on have';
-- which queued entries wait for given entries: asked whenever entries take
-- effect and at commits (src/project.c); without pending list, so that a
-- lookup never reads more than the entries it finds
CREATE INDEX apply_queue_waiting_for ON tracelink.apply_queue USING gin (waiting_for)
    WITH (fastupdate = off);
COMMENT ON INDEX tracelink.apply_queue_waiting_for IS
    'finds the queued entries waiting for given entries (waiting_for && hashes)';

CREATE TABLE tracelink.quarantine (
    id              bigserial PRIMARY KEY,
    quarantined_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    source          text,
    what            text NOT NULL CHECK (what IN ('entry', 'block', 'effect', 'blob', 'chunk')),
    origin          text,
    block_no        bigint,
    tx              bigint,
    seq             integer,
    entry_hash      bytea,
    reason          text NOT NULL,
    row_data        jsonb NOT NULL
);
CREATE INDEX quarantine_origin ON tracelink.quarantine (origin);
CREATE INDEX quarantine_entry ON tracelink.quarantine (entry_hash);
COMMENT ON TABLE tracelink.quarantine IS
    'rows from peers that were refused, with the reason and the row as received; never applied.  what = ''effect'': the entry is in the ledger (validly signed) but the action it records was not allowed, so it has no effect';
COMMENT ON COLUMN tracelink.quarantine.source IS 'the subscription (peer) the row came through';
COMMENT ON SEQUENCE tracelink.quarantine_id_seq IS 'numbers quarantined rows in the order they were refused';

CREATE TABLE tracelink.equivocations (
    origin        text NOT NULL,
    block_no      bigint NOT NULL,
    first_hash    bytea,
    second_hash   bytea NOT NULL,
    first_block   jsonb,
    second_block  jsonb NOT NULL,
    detected_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    detected_by   text NOT NULL DEFAULT 'received'
                  CHECK (detected_by IN ('received', 'witness', 'evidence', 'own chain')),
    witness_entry bytea,
    published_in  bytea,
    CONSTRAINT equivocation_pair_order CHECK (first_hash IS NULL OR first_hash < second_hash),
    CONSTRAINT equivocation_pair_blocks CHECK ((first_hash IS NULL) = (first_block IS NULL)),
    CONSTRAINT equivocations_pair_once UNIQUE NULLS NOT DISTINCT (origin, block_no, first_hash, second_hash)
);
COMMENT ON TABLE tracelink.equivocations IS
    'an origin signed two different blocks with the same number: both signed heads (signed_tree_head() form) are the evidence.  The pair is ordered by block hash, so every node that sees the same two blocks records the same row (docs/ledger.md, "Witnessing heads")';
COMMENT ON COLUMN tracelink.equivocations.first_hash IS
    'the lower of the two block hashes (bytewise); NULL only for a head of this node''s own chain that it never signed (key compromise, or blocks lost by a restore)';
COMMENT ON COLUMN tracelink.equivocations.detected_by IS
    'received: both blocks arrived here; witness: a peer''s witness entry named a head that differs from this node''s copy; evidence: a peer''s witness entry carried both heads; own chain: a witness named a head of this node that it never signed';
COMMENT ON COLUMN tracelink.equivocations.witness_entry IS 'the tl.witness entry that showed the equivocation (NULL when both blocks were received)';
COMMENT ON COLUMN tracelink.equivocations.published_in IS 'this node''s tl.witness entry that passed the evidence on to its peers (NULL: not yet)';

CREATE TABLE tracelink.peer_connections (
    name      text COLLATE "C" PRIMARY KEY,     -- a node (no foreign key: sqlsrc/95_dump.sql)
    conninfo  text NOT NULL
);
COMMENT ON TABLE tracelink.peer_connections IS
    'how to reach each peer (may hold a password: superuser only, like pg_subscription.subconninfo)';
REVOKE ALL ON tracelink.peer_connections FROM PUBLIC;

-- Names of the replication objects.  A slot name is cluster-wide, so it
-- names both ends; long names fall back to a hash.
CREATE FUNCTION tracelink.peer_slot_name(publisher text, subscriber text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.length('tl_' || publisher || '_' || subscriber) <= 63
                THEN 'tl_' || publisher || '_' || subscriber
                ELSE 'tl_' || pg_catalog.md5(publisher || '/' || subscriber) END;
COMMENT ON FUNCTION tracelink.peer_slot_name(text, text) IS
    'name of the replication slot on "publisher" from which "subscriber" streams';

-- The login, publication and subscription of a peer are named by a prefix
-- and the peer's name.  Identifiers are at most 63 bytes: a name too long
-- for its prefix (over 48 characters for logins and subscriptions, 50 for
-- publications) gets instead "0x", 16 hex digits of the SHA-256 of the
-- whole name, "_" and as much of the name as fits.  A node name starts
-- with a letter, so such a name is never the plain name of another peer,
-- and two long names with a common beginning differ.  These functions are
-- the only place the names are made: everything that creates or looks up
-- the objects calls them (src/apply.c has the subscription's in C).
CREATE FUNCTION tracelink.peer_login_name(peer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.octet_length('tracelink_peer_' || peer) <= 63
                THEN 'tracelink_peer_' || peer
                ELSE 'tracelink_peer_0x'
                     || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.textsend(peer)), 'hex'), 16)
                     || '_' || pg_catalog.left(peer, 29) END;
COMMENT ON FUNCTION tracelink.peer_login_name(text) IS
    'name of the login a peer replicates from this node with (tracelink_peer_<peer>, hashed when longer than 63 bytes); the peer puts it in the user of its connection string';

CREATE FUNCTION tracelink.peer_publication_name(peer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.octet_length('tracelink_to_' || peer) <= 63
                THEN 'tracelink_to_' || peer
                ELSE 'tracelink_to_0x'
                     || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.textsend(peer)), 'hex'), 16)
                     || '_' || pg_catalog.left(peer, 31) END;
COMMENT ON FUNCTION tracelink.peer_publication_name(text) IS
    'name of the publication of this node''s rows for a peer (tracelink_to_<peer>, hashed when longer than 63 bytes)';

CREATE FUNCTION tracelink.peer_subscription_name(peer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.octet_length('tracelink_from_' || peer) <= 63
                THEN 'tracelink_from_' || peer
                ELSE 'tracelink_from_0x'
                     || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.textsend(peer)), 'hex'), 16)
                     || '_' || pg_catalog.left(peer, 29) END;
COMMENT ON FUNCTION tracelink.peer_subscription_name(text) IS
    'name of this node''s subscription to a peer (tracelink_from_<peer>, hashed when longer than 63 bytes)';

CREATE FUNCTION tracelink.connect_peers(only_peer text DEFAULT NULL)
    RETURNS TABLE (peer text, status text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    p record;
    sub text;
BEGIN
    FOR p IN SELECT c.name, c.conninfo FROM tracelink.peer_connections c
              WHERE only_peer IS NULL OR c.name = only_peer ORDER BY c.name
    LOOP
        peer := p.name;
        sub := tracelink.peer_subscription_name(p.name);
        IF EXISTS (SELECT 1 FROM pg_subscription s
                    WHERE s.subname = sub
                      AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) THEN
            status := 'subscribed';
            RETURN NEXT;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I '
                           'WITH (create_slot = false, slot_name = %L, copy_data = true)',
                           sub, p.conninfo, tracelink.peer_publication_name(me),
                           tracelink.peer_slot_name(p.name, me));
        EXCEPTION WHEN OTHERS THEN
            status := 'unreachable: ' || SQLERRM;
            RETURN NEXT;
            CONTINUE;
        END;
        -- No tables means the peer has not published for us yet: undo,
        -- without touching a slot on the peer.
        IF NOT EXISTS (SELECT 1 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                        WHERE s.subname = sub) THEN
            EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', sub);
            EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
            EXECUTE format('DROP SUBSCRIPTION %I', sub);
            status := 'waiting for the peer to add this node';
        ELSE
            status := 'subscribed';
        END IF;
        RETURN NEXT;
    END LOOP;
    IF only_peer IS NOT NULL AND NOT FOUND AND peer IS NULL THEN
        RAISE EXCEPTION 'unknown peer "%"', only_peer USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink.connect_peers(text) IS
    'subscribes to every peer (or one) that has published for this node and is not subscribed yet; returns each peer''s status';

-- add_peer and remove_peer are procedures (they COMMIT between steps, so
-- that the slot is created once the publication exists), and a procedure
-- that commits cannot pin its search_path.  So each is only a sequence of
-- calls of the functions below, which do the work with a pinned
-- search_path; the procedures evaluate no name or operator themselves.

-- The login a peer replicates with: LOGIN REPLICATION, reads the two
-- ledger tables, nothing else (docs/operations.md).  A role of that name
-- that can do more is not taken over.  Used by add_peer and, after a
-- restore (roles are not in a database's dump), by finish_restore.
CREATE FUNCTION tracelink._make_peer_login(peer text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    login text := tracelink.peer_login_name(peer);
    r pg_roles;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = login;
    IF FOUND THEN
        IF r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls
           OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid) THEN
            RAISE EXCEPTION 'role "%" exists and has more privileges than a peer login may have', login
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'A peer login has LOGIN and REPLICATION, no other attribute and no role memberships.',
                      HINT = 'Drop the role or take the extra privileges away, then add the peer again.';
        END IF;
        -- a login that remove_peer could only disable, or that another
        -- database of the cluster shares for the same peer
        EXECUTE format('ALTER ROLE %I LOGIN REPLICATION', login);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN REPLICATION', login);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA tracelink TO %I', login);
    EXECUTE format('GRANT SELECT ON tracelink.ledger_entries, tracelink.ledger_blocks TO %I', login);
    -- files (sqlsrc/75_blobs.sql): the tables for the initial copy, and
    -- what the peer's fetch_blob() asks for
    EXECUTE format('GRANT SELECT ON tracelink.blobs, tracelink.blob_chunks TO %I', login);
    EXECUTE format('GRANT EXECUTE ON FUNCTION tracelink._serve_blob(bytea), '
                   'tracelink._serve_blob_chunk(bytea, integer) TO %I', login);
END
$$;
COMMENT ON FUNCTION tracelink._make_peer_login(text) IS
    'creates (or re-enables) the login peer "peer" replicates with: LOGIN REPLICATION and SELECT on the two ledger tables, refusing a role of that name with more privileges';

-- What a peer receives from this node: its blocks, and its entries meant
-- for the peer.  A publication that exists (a dump keeps it, without its
-- tables, which are the extension's) gets its tables and filters again.
CREATE FUNCTION tracelink._publish_for_peer(peer text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    pub text := tracelink.peer_publication_name(peer);
    tables text := format('tracelink.ledger_entries WHERE (origin = %L AND (audience IS NULL OR %L = ANY (audience))), '
                          'tracelink.ledger_blocks WHERE (origin = %L), '
                          'tracelink.blobs WHERE (origin = %L AND (audience IS NULL OR %L = ANY (audience))), '
                          'tracelink.blob_chunks WHERE (origin = %L AND (audience IS NULL OR %L = ANY (audience)))',
                          me, peer, me, me, peer, me, peer);
BEGIN
    IF EXISTS (SELECT 1 FROM pg_publication b WHERE b.pubname = pub) THEN
        EXECUTE format('ALTER PUBLICATION %I SET TABLE %s', pub, tables);
    ELSE
        EXECUTE format('CREATE PUBLICATION %I FOR TABLE %s WITH (publish = ''insert'')', pub, tables);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._publish_for_peer(text) IS
    'creates this node''s publication for peer "peer" (its blocks, and its entries whose audience includes the peer), or sets its tables again';

-- add_peer, step 1: check the arguments, pin the peer's key, make the login
-- the peer replicates with and the publication of this node's rows for it.
CREATE FUNCTION tracelink._add_peer_publish(name text, conninfo text, public_key bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    peer text := _add_peer_publish.name;
    known tracelink.nodes;
    is_known boolean;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run SELECT tracelink.init_node(''name'') first.';
    END IF;
    IF peer IS NULL OR NOT tracelink._valid_node_name(peer) THEN
        RAISE EXCEPTION 'invalid node name "%"', peer
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A node name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits or underscores.';
    END IF;
    IF peer = me THEN
        RAISE EXCEPTION 'a node cannot be its own peer' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF _add_peer_publish.public_key IS NULL OR length(_add_peer_publish.public_key) <> 32 THEN
        RAISE EXCEPTION 'the public key of peer "%" must be 32 bytes', peer
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pin the key the peer''s tracelink.init_node() returned, obtained out of band.';
    END IF;
    IF _add_peer_publish.conninfo IS NULL OR _add_peer_publish.conninfo = '' THEN
        RAISE EXCEPTION 'a connection string for peer "%" is required', peer
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a node already known is added again only as the peer it was: one
    -- that was removed, with the key pinned for it then
    SELECT * INTO known FROM tracelink.nodes n WHERE n.name = peer;
    is_known := FOUND;
    IF is_known AND EXISTS (SELECT 1 FROM tracelink.peer_connections c WHERE c.name = peer) THEN
        RAISE EXCEPTION 'node "%" is already known', peer USING ERRCODE = 'duplicate_object';
    END IF;
    IF is_known AND known.public_key <> _add_peer_publish.public_key THEN
        RAISE EXCEPTION 'node "%" is already known with another public key', peer
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'A node''s genesis key is pinned once; its later keys come from its signed chain.';
    END IF;

    IF NOT is_known THEN
        INSERT INTO tracelink.nodes (name, public_key) VALUES (peer, _add_peer_publish.public_key);
    END IF;
    INSERT INTO tracelink.peer_connections (name, conninfo) VALUES (peer, _add_peer_publish.conninfo);

    PERFORM tracelink._make_peer_login(peer);
    PERFORM tracelink._publish_for_peer(peer);
END
$$;
COMMENT ON FUNCTION tracelink._add_peer_publish(text, text, bytea) IS
    'add_peer, step 1: checks the arguments, pins the peer''s key, makes its login and the publication for it';

-- add_peer, step 2 (after the publication is committed): the slot the
-- peer streams from.
CREATE FUNCTION tracelink._add_peer_slot(name text) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT pg_catalog.pg_create_logical_replication_slot(
               tracelink.peer_slot_name(tracelink.node_name(), _add_peer_slot.name), 'pgoutput');
END;
COMMENT ON FUNCTION tracelink._add_peer_slot(text) IS
    'add_peer, step 2: creates the replication slot the peer streams from';

-- add_peer, step 3: subscribe to the peer if it has published for us.
CREATE FUNCTION tracelink._add_peer_subscribe(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT * FROM tracelink.connect_peers(_add_peer_subscribe.name) LOOP
        RAISE NOTICE 'peer "%": %', s.peer, s.status;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tracelink._add_peer_subscribe(text) IS
    'add_peer, step 3: subscribes to the peer if it has already added this node, with a notice of the outcome';

CREATE PROCEDURE tracelink.add_peer(name text, conninfo text, public_key bytea)
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM tracelink._add_peer_publish(add_peer.name, add_peer.conninfo, add_peer.public_key);
    COMMIT;
    PERFORM tracelink._add_peer_slot(add_peer.name);
    COMMIT;
    PERFORM tracelink._add_peer_subscribe(add_peer.name);
END
$$;
COMMENT ON PROCEDURE tracelink.add_peer(text, text, bytea) IS
    'adds a peer (or a removed one again, with the same key): pins its public key, publishes this node''s rows for it (with a replication slot and a least-privilege login), and subscribes to it if it has already added this node';

-- remove_peer, step 1: stop replicating with the peer: subscription,
-- publication, connection, and the login's grants in this database.
CREATE FUNCTION tracelink._remove_peer_unpublish(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    peer text := _remove_peer_unpublish.name;
    sub text := tracelink.peer_subscription_name(_remove_peer_unpublish.name);
    login text := tracelink.peer_login_name(_remove_peer_unpublish.name);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tracelink.peer_connections c WHERE c.name = peer) THEN
        RAISE EXCEPTION 'unknown peer "%"', peer USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_subscription s WHERE s.subname = sub
                  AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) THEN
        EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', sub);
        EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
        EXECUTE format('DROP SUBSCRIPTION %I', sub);
    END IF;
    EXECUTE format('DROP PUBLICATION IF EXISTS %I', tracelink.peer_publication_name(peer));
    DELETE FROM tracelink.peer_connections c WHERE c.name = peer;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        EXECUTE format('REVOKE ALL ON tracelink.ledger_entries, tracelink.ledger_blocks FROM %I', login);
        EXECUTE format('REVOKE ALL ON tracelink.blobs, tracelink.blob_chunks FROM %I', login);
        EXECUTE format('REVOKE ALL ON FUNCTION tracelink._serve_blob(bytea), '
                       'tracelink._serve_blob_chunk(bytea, integer) FROM %I', login);
        EXECUTE format('REVOKE USAGE ON SCHEMA tracelink FROM %I', login);
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), login);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._remove_peer_unpublish(text) IS
    'remove_peer, step 1: drops the subscription to the peer and the publication for it, forgets how to reach it, revokes its login''s grants here';

-- remove_peer, step 2 (after step 1 is committed): the peer's slot, then
-- its login.  The login is dropped, its sessions ended first, unless
-- another database of the cluster still grants it privileges (a tracelink
-- node there has the same peer): then only its sessions in this database
-- end.  A login that cannot be dropped (it owns objects or holds
-- privileges elsewhere) loses LOGIN and REPLICATION instead.
CREATE FUNCTION tracelink._remove_peer_slot_and_login(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    slot text := tracelink.peer_slot_name(tracelink.node_name(), _remove_peer_slot_and_login.name);
    login text := tracelink.peer_login_name(_remove_peer_slot_and_login.name);
    role_oid oid;
    deadline timestamptz := pg_catalog.clock_timestamp() + interval '20 seconds';
    here oid := (SELECT oid FROM pg_database WHERE datname = current_database());
    elsewhere text;
BEGIN
    -- the peer's slot here: stop its walsender, then drop the slot.  A
    -- signalled walsender releases the slot only as it exits, and the
    -- peer's apply worker may connect again meanwhile: wait for each one to
    -- exit (pg_terminate_backend with a timeout) and retry, until the slot
    -- is gone or 20 seconds have passed.
    LOOP
        PERFORM pg_catalog.pg_terminate_backend(s.active_pid, 5000)
           FROM pg_catalog.pg_replication_slots s
          WHERE s.slot_name = slot AND s.active_pid IS NOT NULL;
        BEGIN
            PERFORM pg_catalog.pg_drop_replication_slot(s.slot_name)
               FROM pg_catalog.pg_replication_slots s
              WHERE s.slot_name = slot AND NOT s.active;
        EXCEPTION WHEN object_in_use THEN
            NULL;               -- taken again since: terminate and retry
        END;
        EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = slot)
               OR pg_catalog.clock_timestamp() > deadline;
        PERFORM pg_catalog.pg_sleep(0.2);
    END LOOP;

    SELECT oid INTO role_oid FROM pg_roles WHERE rolname = login;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT string_agg(DISTINCT d.datname, ', ' ORDER BY d.datname) INTO elsewhere
      FROM pg_shdepend s
      JOIN pg_database d ON d.oid = CASE WHEN s.classid = 'pg_database'::regclass THEN s.objid ELSE s.dbid END
     WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = role_oid AND d.oid <> here;
    IF elsewhere IS NOT NULL THEN
        PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a
         WHERE a.usesysid = role_oid AND a.datid = here;
        RAISE NOTICE 'login "%" is kept: database % of this cluster still grants it privileges', login, elsewhere
            USING HINT = 'It is the login of a peer of the same name there; remove_peer there drops it.';
        RETURN;
    END IF;
    PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE a.usesysid = role_oid;
    BEGIN
        EXECUTE format('DROP ROLE %I', login);
    EXCEPTION WHEN dependent_objects_still_exist THEN
        EXECUTE format('ALTER ROLE %I NOLOGIN NOREPLICATION', login);
        RAISE NOTICE 'login "%" cannot be dropped; it can no longer log in or replicate', login
            USING DETAIL = SQLERRM;
    END;
END
$$;
COMMENT ON FUNCTION tracelink._remove_peer_slot_and_login(text) IS
    'remove_peer, step 2: drops the peer''s replication slot, then its login (or, if another database of the cluster still uses it, ends its sessions here)';

CREATE PROCEDURE tracelink.remove_peer(name text)
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM tracelink._remove_peer_unpublish(remove_peer.name);
    COMMIT;
    PERFORM tracelink._remove_peer_slot_and_login(remove_peer.name);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE tracelink.remove_peer(text) IS
    'stops replicating with a peer (subscription, publication, slot) and drops its login; its blocks stay in the ledger and still verify against its pinned key';

-- Views

CREATE VIEW tracelink.peers AS
SELECT n.name,
       n.public_key AS pinned_key,
       h.signer_key AS current_key,
       n.added_at,
       pub.pubname IS NOT NULL AS publishing,
       coalesce(slot.active, false) AS peer_streaming,
       coalesce(sub.subenabled, false) AS subscribed,
       st.pid IS NOT NULL AS receiving,
       st.last_msg_receipt_time AS last_message_at,
       CASE
           WHEN c.name IS NULL THEN 'removed'
           WHEN sub.oid IS NULL THEN 'waiting for the peer'
           WHEN NOT sub.subenabled THEN 'disabled'
           WHEN st.pid IS NULL THEN 'down'
           ELSE 'streaming'
       END AS status,
       EXISTS (SELECT 1 FROM tracelink.equivocations e WHERE e.origin = n.name) AS equivocating
  FROM tracelink.nodes n
  LEFT JOIN tracelink.peer_connections c ON c.name = n.name
  LEFT JOIN tracelink.ledger_heads h ON h.origin = n.name
  LEFT JOIN pg_catalog.pg_publication pub ON pub.pubname = tracelink.peer_publication_name(n.name)
  LEFT JOIN pg_catalog.pg_replication_slots slot
         ON slot.slot_name = tracelink.peer_slot_name(tracelink.node_name(), n.name)
  LEFT JOIN pg_catalog.pg_subscription sub
         ON sub.subname = tracelink.peer_subscription_name(n.name)
        AND sub.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  LEFT JOIN pg_catalog.pg_stat_subscription st ON st.subid = sub.oid AND st.relid IS NULL
 WHERE NOT n.is_local;
COMMENT ON VIEW tracelink.peers IS
    'each peer: pinned and current key, whether this node publishes to it, whether it streams from this node, whether this node receives from it, whether it was caught signing two different blocks with one number';

CREATE VIEW tracelink.sync_status AS
SELECT n.name AS peer,
       h.block_no AS last_block,
       h.tree_size AS entries,
       b.sealed_at AS last_block_sealed_at,
       h.applied_at AS last_block_applied_at,
       h.applied_at - b.sealed_at AS lag,
       (SELECT count(*) FROM tracelink.inbox_blocks i WHERE i.origin = n.name) AS parked_blocks,
       (SELECT count(*) FROM tracelink.inbox_entries i WHERE i.origin = n.name) AS parked_entries,
       (SELECT count(*) FROM tracelink.apply_queue q WHERE q.origin = n.name) AS waiting_entries,
       (SELECT count(*) FROM tracelink.quarantine q
         WHERE q.origin = n.name OR q.source = tracelink.peer_subscription_name(n.name)) AS quarantined,
       (SELECT count(*) FROM tracelink.equivocations e WHERE e.origin = n.name) AS equivocations,
       EXISTS (SELECT 1 FROM tracelink.equivocations e WHERE e.origin = n.name) AS equivocating,
       (SELECT count(*) FROM tracelink.witness_pending w WHERE w.origin = n.name) AS witness_checks_pending
  FROM tracelink.nodes n
  LEFT JOIN tracelink.ledger_heads h ON h.origin = n.name
  LEFT JOIN tracelink.ledger_blocks b ON b.origin = n.name AND b.block_no = h.block_no
 WHERE NOT n.is_local;
COMMENT ON VIEW tracelink.sync_status IS
    'per peer: last block applied here, its lag, rows parked or waiting, rows quarantined, equivocations seen (equivocating: the peer signed two different blocks with one number), witnessed heads of it beyond this node''s copy still to check';

CREATE VIEW tracelink.quarantined AS
SELECT id, quarantined_at, source, what, origin, block_no, tx, seq, entry_hash, reason
  FROM tracelink.quarantine;
COMMENT ON VIEW tracelink.quarantined IS 'refused rows from peers and why (the rows themselves: tracelink.quarantine.row_data)';

-- Convergence

-- The ledger's part of the shared state (state_digest(), sqlsrc/90_state.sql)
CREATE FUNCTION tracelink._ledger_state() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    'heads', (SELECT coalesce(jsonb_agg(jsonb_build_array(origin, block_no, encode(block_hash, 'hex'), tree_size)
                                        ORDER BY origin), '[]')
                FROM tracelink.ledger_heads),
    'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_array(name, encode(public_key, 'hex')) ORDER BY name), '[]')
                FROM tracelink.nodes))
$$;
COMMENT ON FUNCTION tracelink._ledger_state() IS
    'the ledger''s part of the state state_digest() hashes: each origin''s head, the pinned node keys';

GRANT SELECT ON tracelink.inbox_entries, tracelink.inbox_blocks, tracelink.apply_queue,
                tracelink.quarantine, tracelink.equivocations, tracelink.peers,
                tracelink.sync_status, tracelink.quarantined TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.peer_slot_name(text, text), tracelink.peer_login_name(text),
                 tracelink.peer_publication_name(text), tracelink.peer_subscription_name(text),
                 tracelink._ledger_state() TO tracelink_reader;

-- Applying exported lines without a replication connection

CREATE TYPE tracelink.ingestion AS (lines bigint, quarantined bigint);
COMMENT ON TYPE tracelink.ingestion IS 'what tracelink.ingest() did';

CREATE FUNCTION tracelink.ingest(lines text) RETURNS SETOF tracelink.ingestion
    AS 'MODULE_PATHNAME', 'tl_ingest'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.ingest(text) IS
    'applies tracelink.export() lines from a peer exactly as replicated rows are applied: each block and entry verified, refused ones quarantined, early ones parked; returns how many lines were read and quarantined';
GRANT EXECUTE ON FUNCTION tracelink.ingest(text) TO tracelink_admin;

-- Entries waiting in apply_queue though ready (src/project.c, "Entries that
-- wait, and commits"): commits and the apply path release them on their
-- own; this does it on demand.
CREATE FUNCTION tracelink.recheck_waiting(OUT entry_hash bytea, OUT origin text, OUT tx bigint,
                                          OUT seq integer, OUT took_effect boolean)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_recheck_waiting'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.recheck_waiting() IS
    'releases every entry waiting in apply_queue whose dependencies have all taken effect, in chain order; returns the entries it took out of the queue and whether each took effect (refused ones are in quarantined)';
GRANT EXECUTE ON FUNCTION tracelink.recheck_waiting() TO tracelink_admin;
-- The consortium workflow: link design requests, invitations, process
-- building, assembly, votes, activation, modification and versions.
--
-- Every action is a ledger entry; the API functions below only shape its
-- payload and append it.  The projectors (tracelink._project_*) decide
-- whether the action is allowed and apply it, on the node that wrote it
-- (a refusal is an error to the caller) and on every node that receives it
-- (a refusal is quarantined).  On receivers they judge only by facts in the
-- entry's causal past, so that every node ends with the same state whatever
-- the order entries arrive in (docs/workflow.md).

-- Projected state
--
-- No foreign keys between these tables: pg_restore -j loads the rows of an
-- extension's tables in parallel, in no order, after CREATE EXTENSION has
-- made their constraints (pg_dump orders them only within one script), so
-- a restore would fail on them.  The projectors keep the references; the
-- regress tests and tracelink.finish_restore() check them
-- (sqlsrc/95_dump.sql).

CREATE TABLE tracelink.trace_links (
    link_id         bytea PRIMARY KEY,
    name            text NOT NULL,
    creator         text COLLATE "C" NOT NULL,
    info            jsonb NOT NULL,
    process_order   text[] NOT NULL,
    voting          jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'designing'
                    CHECK (status IN ('designing', 'voting', 'active', 'modifying')),
    active_version  integer,
    requested_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX trace_links_name ON tracelink.trace_links (name);
COMMENT ON TABLE tracelink.trace_links IS
    'trace links: requested by a creator node, designed by the invited nodes, adopted by vote';
COMMENT ON COLUMN tracelink.trace_links.link_id IS 'the hash of the link design request entry';
COMMENT ON COLUMN tracelink.trace_links.requested_at IS 'when this node applied the request (local time, not part of the shared state)';

CREATE TABLE tracelink.link_invitations (
    link_id      bytea NOT NULL,
    process      text NOT NULL,
    node         text COLLATE "C" NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined')),
    reason       text,
    invite_entry bytea NOT NULL,
    reply_entry  bytea,
    PRIMARY KEY (link_id, process, node)
);
COMMENT ON TABLE tracelink.link_invitations IS
    'who is invited to build which process of a link, and their answer (the first answer counts)';

CREATE TABLE tracelink.link_processes (
    link_id       bytea NOT NULL,
    process       text NOT NULL,
    definition    tracelink.process NOT NULL,
    submitted_by  text COLLATE "C" NOT NULL,
    revision      integer NOT NULL,
    entry_hash    bytea NOT NULL,
    template      text,
    PRIMARY KEY (link_id, process)
);
COMMENT ON TABLE tracelink.link_processes IS
    'the working definition of each process of a link: the submission with the highest revision (ties: lowest entry hash)';

CREATE TABLE tracelink.proposals (
    proposal_id  bytea PRIMARY KEY,
    link_id      bytea NOT NULL,
    version      integer NOT NULL,
    purpose      text NOT NULL CHECK (purpose IN ('adoption', 'modification')),
    scope        text NOT NULL CHECK (scope IN ('global', 'local')),
    process      text,
    definition   tracelink.link NOT NULL,
    digest       bytea NOT NULL,
    rule         jsonb NOT NULL,
    voters       text[] NOT NULL,
    threshold    integer NOT NULL,
    approvals    integer NOT NULL DEFAULT 0,
    rejections   integer NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'passed', 'failed')),
    close_entry  bytea
);
CREATE INDEX proposals_link ON tracelink.proposals (link_id);
COMMENT ON TABLE tracelink.proposals IS
    'votes: the link version proposed, its eligible voters, rule and threshold (fixed when proposed), and the running tally';

CREATE TABLE tracelink.ballots (
    proposal_id  bytea NOT NULL,
    voter        text COLLATE "C" NOT NULL,
    approve      boolean NOT NULL,
    reason       text,
    entry_hash   bytea NOT NULL,
    PRIMARY KEY (proposal_id, voter)
);
COMMENT ON TABLE tracelink.ballots IS 'the ballot that counts for each voter of each proposal (its first)';

CREATE TABLE tracelink.link_version_history (
    link_id      bytea NOT NULL,
    version      integer NOT NULL,
    proposal_id  bytea NOT NULL,
    definition   tracelink.link NOT NULL,
    digest       bytea NOT NULL,
    status       text NOT NULL CHECK (status IN ('active', 'superseded')),
    PRIMARY KEY (link_id, version)
);
COMMENT ON TABLE tracelink.link_version_history IS
    'adopted versions of each link; trace codes first recorded under a version stay bound to it';

CREATE TABLE tracelink.modifications (
    modification_id  bytea PRIMARY KEY,
    link_id          bytea NOT NULL,
    process          text,
    process_order    text[],
    reason           text,
    confirmed_by     text[] COLLATE "C" NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'revising'
                     CHECK (status IN ('revising', 'voting', 'passed', 'failed')),
    proposal_id      bytea
);
COMMENT ON TABLE tracelink.modifications IS
    'requested changes of an active link: the participants of the process revise and confirm it, then a vote runs';

-- Helpers

-- API arguments that must be given: a clear error, not a confusing one later
CREATE FUNCTION tracelink._required(value anyelement, argument text) RETURNS anyelement
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION 'argument "%" must not be null', argument USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN value;
END
$$;
COMMENT ON FUNCTION tracelink._required(anyelement, text) IS
    'returns its value, or raises 22004 naming the API argument that is null';

-- One lookup in C (src/trace_model.c), which recording and trace() use too.
CREATE FUNCTION tracelink.link_id(link text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_link_id'
    LANGUAGE C STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION tracelink.link_id(text) IS 'a link''s id from its name or its id in hex';

CREATE FUNCTION tracelink._participants(p_link bytea, p_process text DEFAULT NULL) RETURNS text[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(array_agg(DISTINCT i.node ORDER BY i.node), '{}')
              FROM tracelink.link_invitations i
             WHERE i.link_id = p_link AND i.status = 'accepted'
               AND (p_process IS NULL OR i.process = p_process));
COMMENT ON FUNCTION tracelink._participants(bytea, text) IS
    'nodes that accepted to build a process of the link (or the given process)';

-- Does a change from one process definition to another touch a key form, or
-- an audience?  Who may read a form's or an item's values is always a key
-- change: the audience of any form or item (of a key form or not) added,
-- removed or changed, including with the form or item that carries it.
CREATE FUNCTION tracelink._touches_key_forms(old_def tracelink.process, new_def tracelink.process) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- tracelink.name(s), not s.name: on a base type that would be a cast to
    -- type name (the first 63 bytes of the stage's JSON).  item_audiences:
    -- [name, audience] of each item that has one, in a fixed order.
    WITH o AS (SELECT tracelink.name(s) AS stage, f.name AS form, f.key, f.items, f.description, f.audience,
                      (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(i->'name', i->'audience')
                                                   ORDER BY i->>'name', (i->'audience')::text)
                         FROM pg_catalog.jsonb_array_elements(f.items) i
                        WHERE i ? 'audience') AS item_audiences
                 FROM tracelink.stages(old_def) s, tracelink.forms(s) f),
         n AS (SELECT tracelink.name(s) AS stage, f.name AS form, f.key, f.items, f.description, f.audience,
                      (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(i->'name', i->'audience')
                                                   ORDER BY i->>'name', (i->'audience')::text)
                         FROM pg_catalog.jsonb_array_elements(f.items) i
                        WHERE i ? 'audience') AS item_audiences
                 FROM tracelink.stages(new_def) s, tracelink.forms(s) f)
    SELECT EXISTS (SELECT 1 FROM o FULL JOIN n USING (stage, form)
                    WHERE ((coalesce(o.key, false) OR coalesce(n.key, false))
                           AND (o.form IS NULL OR n.form IS NULL OR o.key IS DISTINCT FROM n.key
                                OR o.items IS DISTINCT FROM n.items OR o.description IS DISTINCT FROM n.description))
                       OR o.audience IS DISTINCT FROM n.audience
                       OR o.item_audiences IS DISTINCT FROM n.item_audiences)
$$;
COMMENT ON FUNCTION tracelink._touches_key_forms(tracelink.process, tracelink.process) IS
    'true when a key form is added, removed or changed (or a form becomes or stops being key), or the audience of any form or item is added, removed or changed';

CREATE FUNCTION tracelink._append_action(kind text, payload jsonb, deps bytea[] DEFAULT '{}') RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_append_action'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink._append_action(text, jsonb, bytea[]) IS
    'appends a workflow entry (tl.link.* / tl.process.*); its projector checks it is allowed';

-- An action must list, among its dependencies, the entries it relies on:
-- then every node judges it only once they have taken effect there, and a
-- forged action without them is refused alike everywhere.
CREATE FUNCTION tracelink._require_deps(deps bytea[], needed bytea[], what text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce(needed, '{}') <@ coalesce(deps, '{}') THEN
        RAISE EXCEPTION '% must depend on the entries it relies on', what
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It lacks ' || (SELECT string_agg(encode(n, 'hex'), ', ') FROM unnest(needed) n
                                            WHERE NOT n = ANY (coalesce(deps, '{}'))) || '.';
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._require_deps(bytea[], bytea[], text) IS
    'refuses an action that does not depend on the entries it relies on';

-- The link an action names, as this node projected it; with `action`, only
-- its creator may take that action.  One rule for every projector.
CREATE FUNCTION tracelink._projected_link(link bytea, origin text DEFAULT NULL, action text DEFAULT NULL)
    RETURNS tracelink.trace_links LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lnk tracelink.trace_links;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = link;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown trace link' USING ERRCODE = 'undefined_object';
    END IF;
    IF action IS NOT NULL AND origin <> lnk.creator THEN
        RAISE EXCEPTION 'only the creator of link "%" (%) can %', lnk.name, lnk.creator, action
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN lnk;
END
$$;
COMMENT ON FUNCTION tracelink._projected_link(bytea, text, text) IS
    'the trace link an action names (undefined_object if unknown); with an action, refuses it unless origin created the link';

-- Projectors

CREATE FUNCTION tracelink._project_link_request(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    draft tracelink.link;
    problem record;
    p text;
    n text;
BEGIN
    -- the request is a link definition without built processes
    draft := (payload - 'type')::tracelink.link;
    IF tracelink.name(draft) IS NULL OR cardinality(tracelink.process_order(draft)) = 0 THEN
        RAISE EXCEPTION 'a link design request needs a name and at least one process'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- processes are not built yet: of the TL007 problems only invitations
    -- to a process that is not in the order count
    FOR problem IN SELECT * FROM tracelink.validate(draft) v
                    WHERE v.code IN ('TL002', 'TL012', 'TL014')
                       OR (v.code = 'TL007' AND v.path LIKE '$.invitations.%') LOOP
        RAISE EXCEPTION '%', problem.message
            USING ERRCODE = problem.code, DETAIL = 'At ' || problem.path || '.';
    END LOOP;
    IF payload->'voting'->'adoption' IS NULL THEN
        RAISE EXCEPTION 'a link design request must state its adoption rule'
            USING ERRCODE = 'TL012';
    END IF;
    INSERT INTO tracelink.trace_links (link_id, name, creator, info, process_order, voting)
    VALUES (entry_hash, tracelink.name(draft), origin, tracelink.link_info(draft),
            tracelink.process_order(draft),
            jsonb_build_object('adoption', payload->'voting'->'adoption',
                               'modification', coalesce(payload->'voting'->'modification',
                                                        payload->'voting'->'adoption')));
    FOR p, n IN SELECT i.process, i.node FROM tracelink.invitations(draft) i LOOP
        IF NOT tracelink._valid_node_name(n) THEN
            RAISE EXCEPTION 'invalid node name "%"', n USING ERRCODE = 'invalid_parameter_value',
                DETAIL = format('Process "%s" invites it.', p);
        END IF;
        INSERT INTO tracelink.link_invitations (link_id, process, node, invite_entry)
        VALUES (entry_hash, p, n, entry_hash);
    END LOOP;
    -- ids only: any login that connects here can LISTEN (docs/workflow.md)
    PERFORM pg_notify('tracelink_invitation',
                      jsonb_build_object('link', encode(entry_hash, 'hex'),
                                         'entry', encode(entry_hash, 'hex'))::text);
END
$$;
COMMENT ON FUNCTION tracelink._project_link_request(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.request: checks the design request (name, processes, invitations, rules) and records the link and its invitations';

CREATE FUNCTION tracelink._project_invitation_reply(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    inv tracelink.link_invitations;
    lnk tracelink.trace_links;
BEGIN
    lnk := tracelink._projected_link(link);
    SELECT * INTO inv FROM tracelink.link_invitations i
     WHERE i.link_id = link AND i.process = payload->>'process' AND i.node = origin;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node "%" is not invited to build process "%" of link "%"',
                        origin, payload->>'process', lnk.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM tracelink._require_deps(deps, ARRAY[inv.invite_entry], 'an answer to an invitation');
    IF jsonb_typeof(payload->'accept') IS DISTINCT FROM 'boolean' THEN
        RAISE EXCEPTION 'an answer to an invitation must accept (true) or decline (false)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF inv.status <> 'pending' THEN
        RAISE EXCEPTION 'node "%" already answered the invitation to build process "%" (%)',
                        origin, inv.process, inv.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF local AND lnk.status <> 'designing' THEN
        RAISE EXCEPTION 'link "%" is no longer being designed (it is %)', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE tracelink.link_invitations i
       SET status = CASE WHEN (payload->>'accept')::boolean THEN 'accepted' ELSE 'declined' END,
           reason = payload->>'reason', reply_entry = entry_hash
     WHERE i.link_id = link AND i.process = inv.process AND i.node = origin;
END
$$;
COMMENT ON FUNCTION tracelink._project_invitation_reply(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.reply: records an invited node''s first answer';

CREATE FUNCTION tracelink._project_reinvite(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    n text;
BEGIN
    lnk := tracelink._projected_link(link, origin, 'invite nodes');
    PERFORM tracelink._require_deps(deps, ARRAY[link], 'an invitation');
    IF (payload->>'process') = ANY (lnk.process_order) IS NOT TRUE THEN
        RAISE EXCEPTION 'link "%" has no process "%"', lnk.name, payload->>'process'
            USING ERRCODE = 'TL007';
    END IF;
    IF jsonb_typeof(payload->'nodes') <> 'array' OR jsonb_array_length(payload->'nodes') = 0 THEN
        RAISE EXCEPTION 'an invitation names at least one node' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF local AND lnk.status <> 'designing' THEN
        RAISE EXCEPTION 'link "%" is no longer being designed (it is %)', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOR n IN SELECT jsonb_array_elements_text(payload->'nodes') LOOP
        IF tracelink._valid_node_name(n) IS NOT TRUE THEN
            RAISE EXCEPTION 'invalid node name "%"', n USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF EXISTS (SELECT 1 FROM tracelink.link_invitations i
                    WHERE i.link_id = link AND i.process = payload->>'process' AND i.node = n) THEN
            RAISE EXCEPTION 'node "%" is already invited to build process "%"', n, payload->>'process'
                USING ERRCODE = 'duplicate_object';
        END IF;
        INSERT INTO tracelink.link_invitations (link_id, process, node, invite_entry)
        VALUES (link, payload->>'process', n, entry_hash);
    END LOOP;
    -- ids only: any login that connects here can LISTEN (docs/workflow.md)
    PERFORM pg_notify('tracelink_invitation',
                      jsonb_build_object('link', encode(link, 'hex'),
                                         'entry', encode(entry_hash, 'hex'))::text);
END
$$;
COMMENT ON FUNCTION tracelink._project_reinvite(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.reinvite: the creator invites more nodes to build a process';

CREATE FUNCTION tracelink._project_process_submit(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    def tracelink.process;
    pname text;
    cur tracelink.link_processes;
    rev integer := (payload->>'revision')::integer;
BEGIN
    lnk := tracelink._projected_link(link);
    def := (payload->'definition')::tracelink.process;
    pname := tracelink.name(def);
    IF NOT pname = ANY (lnk.process_order) THEN
        RAISE EXCEPTION 'link "%" has no process "%"', lnk.name, pname USING ERRCODE = 'TL007';
    END IF;
    PERFORM tracelink._require_deps(deps,
        ARRAY[link] || ARRAY(SELECT i.reply_entry FROM tracelink.link_invitations i
                              WHERE i.link_id = link AND i.process = pname AND i.node = origin
                                AND i.reply_entry IS NOT NULL),
        'a process submission');
    IF NOT EXISTS (SELECT 1 FROM tracelink.link_invitations i
                    WHERE i.link_id = link AND i.process = pname AND i.node = origin
                      AND i.status = 'accepted') THEN
        RAISE EXCEPTION 'node "%" has not accepted to build process "%" of link "%"', origin, pname, lnk.name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only an invited node that accepted can submit a process, and only its own.';
    END IF;
    IF (def::jsonb)->>'node' IS DISTINCT FROM origin THEN
        RAISE EXCEPTION 'the process definition names node "%" as its builder, but "%" submitted it',
                        (def::jsonb)->>'node', origin
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF local THEN
        IF lnk.status IN ('voting', 'active') THEN
            RAISE EXCEPTION 'link "%" is %: its processes can be revised only while it is designed, or when a modification of them is requested',
                            lnk.name, lnk.status
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF lnk.status = 'modifying' AND NOT EXISTS (
               SELECT 1 FROM tracelink.modifications m
                WHERE m.link_id = link AND m.status = 'revising' AND m.process = pname) THEN
            RAISE EXCEPTION 'no modification of process "%" of link "%" is requested', pname, lnk.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    SELECT * INTO cur FROM tracelink.link_processes p WHERE p.link_id = link AND p.process = pname;
    IF NOT FOUND THEN
        INSERT INTO tracelink.link_processes (link_id, process, definition, submitted_by, revision, entry_hash, template)
        VALUES (link, pname, def, origin, rev, entry_hash, payload->>'template');
    ELSIF (rev, cur.entry_hash) > (cur.revision, entry_hash) THEN
        -- a later revision wins; two submissions of one revision: the lower hash
        UPDATE tracelink.link_processes p
           SET definition = def, submitted_by = origin, revision = rev, entry_hash = _project_process_submit.entry_hash,
               template = payload->>'template'
         WHERE p.link_id = link AND p.process = pname;
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_process_submit(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.process.submit: a participant''s process definition; the highest revision is the working one (ties: lowest entry hash)';

-- The definition a proposal puts to the vote: the link with its current
-- working processes (for a modification of one process: the active version
-- with that process replaced), and the nodes that accepted as invitees.
CREATE FUNCTION tracelink._proposed_definition(p_link bytea, p_process text, p_order text[])
    RETURNS tracelink.link LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lnk tracelink.trace_links;
    active tracelink.link;
    procs jsonb;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = p_link;
    SELECT h.definition INTO active FROM tracelink.link_version_history h
     WHERE h.link_id = p_link AND h.version = lnk.active_version;
    SELECT jsonb_agg(CASE WHEN active IS NULL OR w.process = p_process THEN w.definition::jsonb
                          ELSE tracelink.process(active, w.process)::jsonb END
                     ORDER BY array_position(coalesce(p_order, lnk.process_order), w.process))
      INTO procs
      FROM tracelink.link_processes w WHERE w.link_id = p_link;
    RETURN jsonb_build_object(
        'name', lnk.name, 'info', lnk.info, 'creator', lnk.creator,
        'process_order', to_jsonb(coalesce(p_order, lnk.process_order)),
        'invitations', (SELECT coalesce(jsonb_object_agg(process, nodes), '{}')
                          FROM (SELECT i.process, jsonb_agg(i.node ORDER BY i.node) AS nodes
                                  FROM tracelink.link_invitations i
                                 WHERE i.link_id = p_link AND i.status = 'accepted'
                                 GROUP BY i.process) x),
        'voting', lnk.voting,
        'processes', coalesce(procs, '[]'))::tracelink.link;
END
$$;
COMMENT ON FUNCTION tracelink._proposed_definition(bytea, text, text[]) IS
    'the link definition a proposal puts to the vote: the working processes (for a modification of one process, the active version with that process replaced) and the accepted invitations';

CREATE FUNCTION tracelink._project_modification_request(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    new_order text[];
BEGIN
    lnk := tracelink._projected_link(link, origin, 'request a modification');
    IF lnk.active_version IS NULL THEN
        RAISE EXCEPTION 'link "%" has no adopted version to modify', lnk.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM tracelink._require_deps(deps,
        ARRAY[link] || ARRAY(SELECT h.proposal_id FROM tracelink.link_version_history h
                              WHERE h.link_id = link AND h.version = lnk.active_version),
        'a modification request');
    IF local AND lnk.status <> 'active' THEN
        RAISE EXCEPTION 'link "%" is %: one change at a time', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF payload->>'process' IS NULL AND jsonb_typeof(payload->'process_order') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'a modification names a process to revise, a new process order, or both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF payload->>'process' IS NOT NULL AND NOT (payload->>'process') = ANY (lnk.process_order) THEN
        RAISE EXCEPTION 'link "%" has no process "%"', lnk.name, payload->>'process' USING ERRCODE = 'TL007';
    END IF;
    IF jsonb_typeof(payload->'process_order') = 'array' THEN
        SELECT array_agg(x) INTO new_order FROM jsonb_array_elements_text(payload->'process_order') x;
        IF (SELECT array_agg(x ORDER BY x) FROM unnest(new_order) x)
           IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM unnest(lnk.process_order) x) THEN
            RAISE EXCEPTION 'a new process order must list the same processes' USING ERRCODE = 'TL013';
        END IF;
    END IF;
    INSERT INTO tracelink.modifications (modification_id, link_id, process, process_order, reason)
    VALUES (entry_hash, link, payload->>'process', new_order, payload->>'reason');
    UPDATE tracelink.trace_links SET status = 'modifying' WHERE link_id = link;
    IF payload->>'process' IS NULL AND local THEN
        -- nothing to revise: the vote starts at once
        PERFORM tracelink._propose(link, 'modification', NULL, entry_hash, new_order);
    ELSIF payload->>'process' IS NOT NULL THEN
        -- ids only: any login that connects here can LISTEN (docs/workflow.md)
        PERFORM pg_notify('tracelink_revision',
                          jsonb_build_object('link', encode(link, 'hex'),
                                             'modification', encode(entry_hash, 'hex'))::text);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_modification_request(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.modify: the creator asks for a change of an active link';

CREATE FUNCTION tracelink._project_process_confirm(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m tracelink.modifications;
    lnk tracelink.trace_links;
    everyone text[];
BEGIN
    SELECT * INTO m FROM tracelink.modifications WHERE modification_id = decode(payload->>'modification', 'hex');
    IF NOT FOUND OR m.process IS NULL THEN
        RAISE EXCEPTION 'unknown modification request' USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM tracelink._require_deps(deps, ARRAY[m.modification_id], 'a confirmation');
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = m.link_id;
    everyone := tracelink._participants(m.link_id, m.process);
    IF NOT origin = ANY (everyone) THEN
        RAISE EXCEPTION 'node "%" does not build process "%" of link "%"', origin, m.process, lnk.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF origin = ANY (m.confirmed_by) THEN
        RAISE EXCEPTION 'node "%" already confirmed its revision of process "%"', origin, m.process
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF local AND m.status <> 'revising' THEN
        RAISE EXCEPTION 'the modification of process "%" is no longer being revised (%)', m.process, m.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- the revision must make a valid proposal: checked where it is
    -- confirmed, so that the creator's node, which opens the vote when the
    -- last confirmation reaches it, does not refuse the confirmation alone
    IF local THEN
        PERFORM tracelink._proposal(m.link_id, 'modification', m.process, m.modification_id, m.process_order);
    END IF;
    -- sorted, so that every node holds the same array whatever the order
    -- the confirmations arrive in
    UPDATE tracelink.modifications
       SET confirmed_by = ARRAY(SELECT x FROM unnest(confirmed_by || origin) x ORDER BY x)
     WHERE modification_id = m.modification_id;
    -- everyone has confirmed: the creator's node starts the vote
    IF m.status = 'revising' AND everyone <@ (m.confirmed_by || origin)
       AND tracelink.node_name() = lnk.creator THEN
        PERFORM tracelink._propose(m.link_id, 'modification', m.process, m.modification_id, m.process_order);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_process_confirm(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.process.confirm: a participant confirms its revision; on the creator''s node the last confirmation opens the vote';

-- API: each function shapes a payload and appends it; the projector decides.

CREATE FUNCTION tracelink.request_link(name text, process_order text[], invitations jsonb,
                                       info jsonb DEFAULT '{}', adoption_rule jsonb DEFAULT NULL,
                                       modification_rule jsonb DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    adoption jsonb := coalesce(adoption_rule, current_setting('tracelink.default_voting_rule')::jsonb);
BEGIN
    PERFORM tracelink._required(name, 'name'), tracelink._required(process_order, 'process_order'),
            tracelink._required(invitations, 'invitations');
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF jsonb_typeof(invitations) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'invitations must map each process to the nodes invited to build it'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"Growing": ["farm"], "Processing": ["factory"]}.';
    END IF;
    RETURN tracelink._append_action('tl.link.request', jsonb_build_object(
        'name', request_link.name, 'info', coalesce(info, '{}'), 'creator', me,
        'process_order', to_jsonb(process_order), 'invitations', invitations,
        'voting', jsonb_build_object('adoption', adoption,
                                     'modification', coalesce(modification_rule, adoption))));
END
$$;
COMMENT ON FUNCTION tracelink.request_link(text, text[], jsonb, jsonb, jsonb, jsonb) IS
    'a link design request by this node: name, ordered processes, invited nodes per process, voting rules (default: tracelink.default_voting_rule; modifications default to the adoption rule); returns the link id';

CREATE FUNCTION tracelink.reply_invitation(link text, process text, accept boolean, reason text DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    invite bytea;
BEGIN
    PERFORM tracelink._required(process, 'process'), tracelink._required(accept, 'accept');
    SELECT i.invite_entry INTO invite FROM tracelink.link_invitations i
     WHERE i.link_id = id AND i.process = reply_invitation.process AND i.node = tracelink.node_name();
    RETURN tracelink._append_action('tl.link.reply', jsonb_build_object(
        'link', encode(id, 'hex'), 'process', process, 'accept', accept, 'reason', reason),
        CASE WHEN invite IS NULL THEN ARRAY[id] ELSE ARRAY[invite] END);
END
$$;
COMMENT ON FUNCTION tracelink.reply_invitation(text, text, boolean, text) IS
    'accept or decline this node''s invitation to build a process of a link (the first answer counts)';

CREATE FUNCTION tracelink.reinvite(link text, process text, nodes text[])
    RETURNS bytea LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    RETURN tracelink._append_action('tl.link.reinvite', jsonb_build_object(
        'link', encode(tracelink.link_id(link), 'hex'), 'process', tracelink._required(process, 'process'),
        'nodes', to_jsonb(tracelink._required(nodes, 'nodes'))),
        ARRAY[tracelink.link_id(link)]);
COMMENT ON FUNCTION tracelink.reinvite(text, text, text[]) IS
    'the creator invites more nodes to build a process (for example after every invitee declined)';

CREATE FUNCTION tracelink.submit_process(link text, definition tracelink.process, template text DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    me text := tracelink.node_name();
    def tracelink.process := tracelink.merge_patch(tracelink._required(definition, 'definition'),
                                                   jsonb_build_object('node', me));
    rev integer;
    deps bytea[];
BEGIN
    SELECT coalesce(max(w.revision), 0) + 1 INTO rev FROM tracelink.link_processes w
     WHERE w.link_id = id AND w.process = tracelink.name(def);
    SELECT array_agg(h) INTO deps FROM (
        SELECT id AS h
        UNION SELECT i.reply_entry FROM tracelink.link_invitations i
               WHERE i.link_id = id AND i.process = tracelink.name(def) AND i.node = me AND i.reply_entry IS NOT NULL
        UNION SELECT w.entry_hash FROM tracelink.link_processes w
               WHERE w.link_id = id AND w.process = tracelink.name(def)
        UNION SELECT m.modification_id FROM tracelink.modifications m
               WHERE m.link_id = id AND m.process = tracelink.name(def) AND m.status = 'revising') x;
    RETURN tracelink._append_action('tl.process.submit', jsonb_build_object(
        'link', encode(id, 'hex'), 'definition', def::jsonb, 'revision', rev, 'template', template), deps);
END
$$;
COMMENT ON FUNCTION tracelink.submit_process(text, tracelink.process, text) IS
    'submit (or revise) the process this node was invited to build and accepted; its node is set to this node';

CREATE FUNCTION tracelink.submit_process_from_template(link text, process text, template text, changes jsonb DEFAULT NULL)
    RETURNS bytea LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    RETURN tracelink.submit_process(link, tracelink.instantiate_template(tracelink._required(template, 'template'),
                                                                        tracelink._required(process, 'process'), changes),
                                    template);
COMMENT ON FUNCTION tracelink.submit_process_from_template(text, text, text, jsonb) IS
    'submit a process built from one of this node''s templates, as is or with an RFC 7386 merge patch of changes';

CREATE FUNCTION tracelink.assemble(link text) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    lnk tracelink.trace_links;
    p text;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = id;
    IF lnk.creator IS DISTINCT FROM tracelink.node_name() THEN
        RAISE EXCEPTION 'only the creator of link "%" (%) can assemble it', lnk.name, lnk.creator
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF lnk.status <> 'designing' THEN
        RAISE EXCEPTION 'link "%" is %, not being designed', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOREACH p IN ARRAY lnk.process_order LOOP
        IF cardinality(tracelink._participants(id, p)) = 0 THEN
            RAISE EXCEPTION 'process "%" of link "%" has no participant', p, lnk.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = CASE WHEN EXISTS (SELECT 1 FROM tracelink.link_invitations i
                                                  WHERE i.link_id = id AND i.process = p AND i.status = 'pending')
                                    THEN 'Its invitations are still pending.'
                                    ELSE 'Every node invited to build it declined.' END,
                      HINT = 'Wait for the answers, or invite another node with tracelink.reinvite().';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM tracelink.link_processes w WHERE w.link_id = id AND w.process = p) THEN
            RAISE EXCEPTION 'process "%" of link "%" has not been submitted yet', p, lnk.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END LOOP;
    RETURN tracelink._propose(id, 'adoption', NULL, NULL, NULL);
END
$$;
COMMENT ON FUNCTION tracelink.assemble(text) IS
    'the creator assembles the link from the submitted processes, validates it and builds its mesh, and opens the adoption vote; returns the proposal id';

CREATE FUNCTION tracelink.request_modification(link text, process text DEFAULT NULL, reason text DEFAULT NULL,
                                               process_order text[] DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    deps bytea[];
BEGIN
    SELECT array_agg(h) INTO deps FROM (
        SELECT id AS h
        UNION SELECT p.proposal_id FROM tracelink.proposals p WHERE p.link_id = id
        UNION SELECT b.entry_hash FROM tracelink.ballots b JOIN tracelink.proposals p USING (proposal_id)
               WHERE p.link_id = id
        UNION SELECT p.close_entry FROM tracelink.proposals p WHERE p.link_id = id AND p.close_entry IS NOT NULL) x;
    RETURN tracelink._append_action('tl.link.modify', jsonb_build_object(
        'link', encode(id, 'hex'), 'process', process, 'reason', reason,
        'process_order', to_jsonb(process_order)), deps);
END
$$;
COMMENT ON FUNCTION tracelink.request_modification(text, text, text, text[]) IS
    'the creator requests a change of an active link: a process (its participants revise and confirm it, then a vote starts) and/or the process order (the vote starts at once); returns the modification id';

CREATE FUNCTION tracelink.confirm_revision(link text, process text) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    m tracelink.modifications;
    deps bytea[];
BEGIN
    PERFORM tracelink._required(process, 'process');
    SELECT * INTO m FROM tracelink.modifications mo
     WHERE mo.link_id = id AND mo.process = confirm_revision.process AND mo.status = 'revising';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no modification of process "%" is being revised', process
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT array_agg(h) INTO deps FROM (
        SELECT m.modification_id AS h
        UNION SELECT w.entry_hash FROM tracelink.link_processes w
               WHERE w.link_id = id AND w.process = confirm_revision.process) x;
    RETURN tracelink._append_action('tl.process.confirm', jsonb_build_object(
        'link', encode(id, 'hex'), 'process', process,
        'modification', encode(m.modification_id, 'hex')), deps);
END
$$;
COMMENT ON FUNCTION tracelink.confirm_revision(text, text) IS
    'a participant of a process confirms its revision; when all have, the creator''s node starts the vote';

-- Views

CREATE VIEW tracelink.links AS
SELECT l.link_id, l.name, l.creator, l.status, l.active_version, l.process_order, l.info, l.voting,
       tracelink._participants(l.link_id) AS participants,
       (SELECT p.proposal_id FROM tracelink.proposals p WHERE p.link_id = l.link_id AND p.status = 'open'
         ORDER BY p.version DESC LIMIT 1) AS open_proposal
  FROM tracelink.trace_links l;
COMMENT ON VIEW tracelink.links IS 'trace links with their status, active version, participants and open vote';

CREATE VIEW tracelink.link_versions AS
SELECT l.name AS link, p.version, p.purpose, p.scope, p.process,
       coalesce(h.status, CASE p.status WHEN 'passed' THEN 'superseded' ELSE p.status END) AS status,
       p.rule, p.threshold, p.approvals, p.rejections,
       cardinality(p.voters) - p.approvals - p.rejections AS missing,
       (SELECT coalesce(jsonb_object_agg(b.voter, b.approve ORDER BY b.voter), '{}')
          FROM tracelink.ballots b WHERE b.proposal_id = p.proposal_id) AS ballots,
       p.voters, p.proposal_id, p.digest, p.close_entry IS NOT NULL AS closed_early, l.link_id
  FROM tracelink.proposals p
  JOIN tracelink.trace_links l USING (link_id)
  LEFT JOIN tracelink.link_version_history h ON h.link_id = p.link_id AND h.proposal_id = p.proposal_id;
COMMENT ON VIEW tracelink.link_versions IS
    'every vote on every link: version, status (open, failed, active, superseded), tally and who voted what';

CREATE VIEW tracelink.pending_invitations AS
SELECT l.name AS link, i.process, l.creator, i.link_id
  FROM tracelink.link_invitations i JOIN tracelink.trace_links l USING (link_id)
 WHERE i.node = tracelink.node_name() AND i.status = 'pending';
COMMENT ON VIEW tracelink.pending_invitations IS 'invitations to this node that await its answer';

CREATE VIEW tracelink.open_ballots AS
SELECT l.name AS link, p.version, p.purpose, p.scope, p.process, p.threshold, p.approvals, p.rejections,
       p.proposal_id, p.digest
  FROM tracelink.proposals p JOIN tracelink.trace_links l USING (link_id)
 WHERE p.status = 'open' AND tracelink.node_name() = ANY (p.voters)
   AND NOT EXISTS (SELECT 1 FROM tracelink.ballots b
                    WHERE b.proposal_id = p.proposal_id AND b.voter = tracelink.node_name());
COMMENT ON VIEW tracelink.open_ballots IS 'votes this node may cast and has not cast yet (LISTEN tracelink_ballot to hear of new ones)';

-- The workflow's part of the shared state (state_digest(), sqlsrc/90_state.sql)
CREATE FUNCTION tracelink._workflow_state() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    'links', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), name, creator, status,
                                                          active_version, process_order, voting)
                                        ORDER BY link_id), '[]')
                FROM tracelink.trace_links),
    'invitations', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), process, node, status)
                                              ORDER BY link_id, process, node), '[]')
                      FROM tracelink.link_invitations),
    'processes', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), process,
                                                              encode(tracelink.digest(definition), 'hex'),
                                                              submitted_by, revision)
                                            ORDER BY link_id, process), '[]')
                    FROM tracelink.link_processes),
    'proposals', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(proposal_id, 'hex'), version, scope,
                                                              status, approvals, rejections, threshold)
                                            ORDER BY proposal_id), '[]')
                    FROM tracelink.proposals),
    'ballots', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(proposal_id, 'hex'), voter, approve)
                                          ORDER BY proposal_id, voter), '[]')
                  FROM tracelink.ballots),
    'versions', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), version, status,
                                                             encode(digest, 'hex'))
                                           ORDER BY link_id, version), '[]')
                   FROM tracelink.link_version_history),
    'modifications', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(modification_id, 'hex'), process,
                                                                  status, confirmed_by)
                                                ORDER BY modification_id), '[]')
                        FROM tracelink.modifications))
$$;
COMMENT ON FUNCTION tracelink._workflow_state() IS
    'the workflow''s part of the state state_digest() hashes: links, invitations, processes, proposals, ballots, versions, modifications';

GRANT SELECT ON tracelink.trace_links, tracelink.link_invitations, tracelink.link_processes,
                tracelink.proposals, tracelink.ballots, tracelink.link_version_history,
                tracelink.modifications, tracelink.links, tracelink.link_versions,
                tracelink.pending_invitations, tracelink.open_ballots TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.link_id(text), tracelink._required(anyelement, text),
                 tracelink._participants(bytea, text), tracelink._workflow_state() TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink._append_action(text, jsonb, bytea[]),
                 tracelink.request_link(text, text[], jsonb, jsonb, jsonb, jsonb),
                 tracelink.reply_invitation(text, text, boolean, text),
                 tracelink.reinvite(text, text, text[]),
                 tracelink.submit_process(text, tracelink.process, text),
                 tracelink.submit_process_from_template(text, text, text, jsonb),
                 tracelink.assemble(text),
                 tracelink.request_modification(text, text, text, text[]),
                 tracelink.confirm_revision(text, text),
                 tracelink._proposed_definition(bytea, text, text[]),
                 tracelink._touches_key_forms(tracelink.process, tracelink.process)
    TO tracelink_member;
-- Votes on link versions: eligibility, thresholds, proposals, the ballot
-- tally, closing early, and the outcome (docs/workflow.md).  All the vote
-- rules are here, in one language, so that a rule that must give the same
-- answer on every node is read in one place; the API functions only shape
-- payloads and append them (sqlsrc/60_workflow.sql, _append_action in
-- src/workflow.c), and the projectors below (run by src/project.c as the
-- extension's owner, on the writing node and on every receiver) decide.
--
-- A proposal fixes its eligible voters, rule and threshold when it is made.
-- Each ballot is tallied as it takes effect, in O(1): the proposal row is
-- locked, the ballot inserted (the first ballot of a voter counts; a
-- voter's ballots reach every node in the order of the voter's chain, so
-- "first" is the same everywhere), and the counters moved.  The proposal
-- passes as soon as approvals reach the threshold and fails as soon as they
-- no longer can; both are final, so the outcome depends only on the set of
-- ballots.  Ballots cast after the decision are still recorded (they change
-- nothing), so that every node ends with the same ballots whatever the
-- arrival order.
--
-- Closing early: the creator's close names, as its dependencies, the
-- ballots it has seen; the vote is decided on exactly those, missing
-- ballots counting as rejections.  A ballot the creator had not seen is
-- late, on every node: refused if it comes after the close, withdrawn if it
-- came before (and a decision it caused is undone: the close overrules it).

-- Approvals a rule needs among n voters.  The rule is read as canonical
-- JSON first (tracelink.jcs), so that it meets the size and depth limits of
-- every JSON tracelink reads (54000, 54001); a parameter the rule does not
-- take is refused, as link validation refuses it (TL012), so that no rule
-- means one thing here and is refused there; parameters are reported in
-- canonical (JCS) key order.
CREATE FUNCTION tracelink.vote_threshold(rule jsonb, voters integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
    takes text[];
    extra text;
    num bigint;
    den bigint;
    k bigint;
BEGIN
    PERFORM tracelink.jcs(rule);
    IF voters < 1 THEN
        RAISE EXCEPTION 'a vote needs at least one voter' USING ERRCODE = 'TL012';
    END IF;
    IF jsonb_typeof(rule) IS DISTINCT FROM 'object' OR jsonb_typeof(rule->'rule') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'voting rule must be an object with a "rule" name' USING ERRCODE = 'TL012',
            HINT = 'Rules: unanimous, majority, fraction (numerator, denominator), k_of_n (k).';
    END IF;
    r := rule->>'rule';
    takes := CASE r WHEN 'fraction' THEN ARRAY['numerator', 'denominator']
                    WHEN 'k_of_n' THEN ARRAY['k']
                    WHEN 'unanimous' THEN ARRAY[]::text[]
                    WHEN 'majority' THEN ARRAY[]::text[] END;
    IF takes IS NOT NULL THEN
        SELECT key INTO extra FROM jsonb_object_keys(rule) key
         WHERE key <> 'rule' AND NOT key = ANY (takes)
         ORDER BY key COLLATE "C" LIMIT 1;
        IF extra IS NOT NULL THEN
            RAISE EXCEPTION 'voting rule "%" takes no parameter "%"', r, extra USING ERRCODE = 'TL012';
        END IF;
    END IF;
    CASE r
    WHEN 'unanimous' THEN
        RETURN voters;
    WHEN 'majority' THEN
        RETURN voters / 2 + 1;
    WHEN 'fraction' THEN
        num := tracelink._vote_rule_integer(rule, 'numerator');
        den := tracelink._vote_rule_integer(rule, 'denominator');
        IF num > den THEN
            RAISE EXCEPTION 'a fraction rule needs numerator <= denominator' USING ERRCODE = 'TL012';
        END IF;
        -- at least num/den of the voters, rounded up
        RETURN greatest(1, (voters * num + den - 1) / den);
    WHEN 'k_of_n' THEN
        k := tracelink._vote_rule_integer(rule, 'k');
        IF k > voters THEN
            RAISE EXCEPTION 'a k_of_n rule with k = % cannot be met by % %', k, voters,
                            CASE WHEN voters = 1 THEN 'voter' ELSE 'voters' END
                USING ERRCODE = 'TL012';
        END IF;
        RETURN k;
    ELSE
        RAISE EXCEPTION 'unknown voting rule "%"', r USING ERRCODE = 'TL012',
            HINT = 'Rules: unanimous, majority, fraction (numerator, denominator), k_of_n (k).';
    END CASE;
END
$$;
COMMENT ON FUNCTION tracelink.vote_threshold(jsonb, integer) IS
    'approvals a rule needs among this many voters: unanimous = all, majority = more than half, fraction n/d = at least that share (rounded up), k_of_n = k';

-- A rule's parameter: a positive integer that fits in an int4, read as
-- canonical JSON reads numbers (a double: 2.0 is 2).
CREATE FUNCTION tracelink._vote_rule_integer(rule jsonb, key text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v double precision;
BEGIN
    IF jsonb_typeof(rule->key) = 'number' THEN
        v := (rule->>key)::double precision;
        IF v = floor(v) AND v >= 1 AND v <= 2147483647 THEN
            RETURN v::bigint;
        END IF;
    END IF;
    RAISE EXCEPTION 'voting rule needs a positive integer "%"', key USING ERRCODE = 'TL012';
END
$$;
COMMENT ON FUNCTION tracelink._vote_rule_integer(jsonb, text) IS
    'a parameter of a voting rule (numerator, denominator, k): a positive integer, or TL012';

-- The proposal that puts a link version to the vote, as this node's state
-- gives it: the payload of the tl.link.proposal entry and the entries it
-- rests on.  _propose appends it; the proposal's projector recomputes it on
-- the node that makes it, so that a proposal appended any other way must be
-- the same.
CREATE FUNCTION tracelink._proposal(p_link bytea, p_purpose text, p_process text,
                                    p_modification bytea, p_order text[],
                                    OUT payload jsonb, OUT deps bytea[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lnk tracelink.trace_links;
    def tracelink.link;
    voters text[];
    scope text := 'global';
    rule jsonb;
    old_def tracelink.process;
    new_def tracelink.process;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = p_link;
    def := tracelink._proposed_definition(p_link, p_process, p_order);
    PERFORM tracelink.validate_strict(def);
    PERFORM count(*) FROM tracelink.mesh(def);
    IF p_purpose = 'modification' AND p_process IS NOT NULL AND p_order IS NULL THEN
        SELECT tracelink.process(h.definition, p_process) INTO old_def
          FROM tracelink.link_version_history h
         WHERE h.link_id = p_link AND h.version = lnk.active_version;
        new_def := tracelink.process(def, p_process);
        IF NOT tracelink._touches_key_forms(old_def, new_def) THEN
            scope := 'local';
        END IF;
    END IF;
    IF scope = 'local' THEN
        voters := tracelink._participants(p_link, p_process);
    ELSE
        SELECT array_agg(DISTINCT v ORDER BY v) INTO voters
          FROM unnest(tracelink._participants(p_link) || lnk.creator) v;
    END IF;
    rule := CASE p_purpose WHEN 'adoption' THEN lnk.voting->'adoption' ELSE lnk.voting->'modification' END;
    -- what the vote rests on: the request, invitations and answers, the
    -- processes proposed, the modification and its confirmations, and the
    -- ballots of earlier votes
    SELECT array_agg(DISTINCT h) INTO deps FROM (
        SELECT p_link AS h
        UNION SELECT i.reply_entry FROM tracelink.link_invitations i
               WHERE i.link_id = p_link AND i.reply_entry IS NOT NULL
        UNION SELECT i.invite_entry FROM tracelink.link_invitations i WHERE i.link_id = p_link
        UNION SELECT w.entry_hash FROM tracelink.link_processes w WHERE w.link_id = p_link
        UNION SELECT p.proposal_id FROM tracelink.proposals p WHERE p.link_id = p_link
        UNION SELECT p.close_entry FROM tracelink.proposals p WHERE p.link_id = p_link AND p.close_entry IS NOT NULL
        UNION SELECT b.entry_hash FROM tracelink.ballots b JOIN tracelink.proposals p USING (proposal_id)
               WHERE p.link_id = p_link
        UNION SELECT p_modification WHERE p_modification IS NOT NULL) x
     WHERE h IS NOT NULL;
    payload := jsonb_build_object(
        'link', encode(p_link, 'hex'),
        'version', coalesce(lnk.active_version, 0) + 1,
        'purpose', p_purpose, 'scope', scope, 'process', p_process,
        'modification', encode(p_modification, 'hex'),
        'definition', def::jsonb, 'digest', encode(tracelink.digest(def), 'hex'),
        'rule', rule, 'voters', to_jsonb(voters),
        'threshold', tracelink.vote_threshold(rule, cardinality(voters)));
END
$$;
COMMENT ON FUNCTION tracelink._proposal(bytea, text, text, bytea, text[]) IS
    'the payload and dependencies of the proposal this node''s state gives for a link (validated, mesh built, threshold computed)';

-- Put a link version to the vote (the creator's node only).
CREATE FUNCTION tracelink._propose(p_link bytea, p_purpose text, p_process text,
                                   p_modification bytea, p_order text[])
    RETURNS bytea LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT tracelink._append_action('tl.link.proposal', p.payload, p.deps)
              FROM tracelink._proposal(p_link, p_purpose, p_process, p_modification, p_order) p);
COMMENT ON FUNCTION tracelink._propose(bytea, text, text, bytea, text[]) IS
    'appends the proposal tracelink._proposal() gives: opens a vote on a link version';

CREATE FUNCTION tracelink._project_proposal(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    def tracelink.link;
    voters text[];
    v text;
    rule jsonb;
    mod bytea := decode(payload->>'modification', 'hex');
    m tracelink.modifications;
    active tracelink.link;
    expected record;
BEGIN
    lnk := tracelink._projected_link(link, origin, 'put it to the vote');
    def := (payload->'definition')::tracelink.link;
    IF encode(tracelink.digest(def), 'hex') IS DISTINCT FROM payload->>'digest' THEN
        RAISE EXCEPTION 'the proposal''s digest does not match its definition' USING ERRCODE = 'data_corrupted';
    END IF;
    PERFORM tracelink.validate_strict(def);
    IF (SELECT array_agg(x ORDER BY x) FROM unnest(tracelink.process_order(def)) x)
       IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM unnest(lnk.process_order) x) THEN
        RAISE EXCEPTION 'a proposal must keep the processes of link "%"', lnk.name USING ERRCODE = 'TL013';
    END IF;
    IF payload->>'purpose' NOT IN ('adoption', 'modification')
       OR payload->>'scope' NOT IN ('global', 'local')
       OR (payload->>'version')::integer <> coalesce(lnk.active_version, 0) + 1
       OR (payload->>'purpose' = 'adoption') <> (lnk.active_version IS NULL) THEN
        RAISE EXCEPTION 'the proposal''s purpose, scope or version does not fit link "%" (version %)',
                        lnk.name, coalesce(lnk.active_version, 0)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF payload->>'purpose' = 'modification' THEN
        SELECT * INTO m FROM tracelink.modifications mo WHERE mo.modification_id = mod AND mo.link_id = link;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a modification proposal must name its modification request' USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    -- a local vote is for a change of one process that touches no key form
    -- (judged against the active version, which the proposal builds on)
    IF payload->>'scope' = 'local' THEN
        SELECT h.definition INTO active FROM tracelink.link_version_history h
         WHERE h.link_id = link AND h.version = lnk.active_version;
        IF m.process IS NULL OR m.process_order IS NOT NULL
           OR payload->>'process' IS DISTINCT FROM m.process
           OR tracelink._touches_key_forms(tracelink.process(active, m.process), tracelink.process(def, m.process)) THEN
            RAISE EXCEPTION 'this proposal for link "%" needs a global vote', lnk.name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Only a change of one process that touches no key form is voted on by that process''s participants alone.';
        END IF;
    END IF;
    rule := CASE payload->>'purpose' WHEN 'adoption' THEN lnk.voting->'adoption' ELSE lnk.voting->'modification' END;
    IF payload->'rule' IS DISTINCT FROM rule THEN
        RAISE EXCEPTION 'the proposal''s rule is not the link''s % rule', payload->>'purpose' USING ERRCODE = 'TL012';
    END IF;
    SELECT array_agg(x ORDER BY x) INTO voters FROM jsonb_array_elements_text(payload->'voters') x;
    IF voters IS NULL OR voters <> (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(voters) x) THEN
        RAISE EXCEPTION 'a proposal needs distinct voters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v IN ARRAY voters LOOP
        IF NOT (v = lnk.creator AND payload->>'scope' = 'global')
           AND NOT v = ANY (tracelink._participants(link, CASE WHEN payload->>'scope' = 'local' THEN payload->>'process' END)) THEN
            RAISE EXCEPTION 'node "%" is not a participant who may vote on this proposal', v
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    -- the link, and the acceptances that make its voters participants
    PERFORM tracelink._require_deps(deps,
        ARRAY[link] || ARRAY(SELECT i.reply_entry FROM tracelink.link_invitations i
                              WHERE i.link_id = link AND i.status = 'accepted' AND i.node = ANY (voters)),
        'a proposal');
    IF (payload->>'threshold')::integer <> tracelink.vote_threshold(rule, cardinality(voters)) THEN
        RAISE EXCEPTION 'the proposal''s threshold does not follow from its rule' USING ERRCODE = 'TL012';
    END IF;
    IF local AND EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.link_id = link AND p.status = 'open') THEN
        RAISE EXCEPTION 'link "%" already has an open vote', lnk.name USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- on the node that makes it, a proposal must be the one the link's state
    -- gives: members may append entries of any kind, but who votes on what
    -- is not theirs to choose
    IF local THEN
        SELECT * INTO expected
          FROM tracelink._proposal(link, payload->>'purpose', m.process, m.modification_id, m.process_order);
        IF expected.payload IS DISTINCT FROM payload OR NOT expected.deps <@ deps
           OR (payload->>'purpose' = 'modification'
               AND (m.status <> 'revising'
                    OR (m.process IS NOT NULL
                        AND NOT tracelink._participants(link, m.process) <@ m.confirmed_by))) THEN
            RAISE EXCEPTION 'this proposal for link "%" is not the one the link''s state gives', lnk.name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Votes are opened by tracelink.assemble() and by modification requests; voters, scope, threshold, definition and dependencies follow from the link''s state.';
        END IF;
    END IF;
    INSERT INTO tracelink.proposals (proposal_id, link_id, version, purpose, scope, process, definition,
                                     digest, rule, voters, threshold)
    VALUES (entry_hash, link, (payload->>'version')::integer, payload->>'purpose', payload->>'scope',
            payload->>'process', def, tracelink.digest(def), rule, voters,
            (payload->>'threshold')::integer);
    UPDATE tracelink.trace_links SET status = 'voting' WHERE link_id = link;
    UPDATE tracelink.modifications SET status = 'voting', proposal_id = entry_hash WHERE modification_id = mod;
    -- ids only: any login that connects here can LISTEN, and a payload must
    -- stay under 8000 bytes (docs/workflow.md)
    PERFORM pg_notify('tracelink_ballot',
                      jsonb_build_object('proposal', encode(entry_hash, 'hex'),
                                         'link', encode(link, 'hex'))::text);
END
$$;
COMMENT ON FUNCTION tracelink._project_proposal(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.proposal: checks a vote''s definition, scope, rule, voters and threshold and opens it';

-- The outcome of a vote (called by the tally below).
CREATE FUNCTION tracelink._decide(p_proposal bytea, p_passed boolean) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prop tracelink.proposals;
    lnk tracelink.trace_links;
BEGIN
    SELECT * INTO prop FROM tracelink.proposals WHERE proposal_id = p_proposal;
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = prop.link_id;
    UPDATE tracelink.proposals SET status = CASE WHEN p_passed THEN 'passed' ELSE 'failed' END
     WHERE proposal_id = p_proposal;
    IF p_passed THEN
        UPDATE tracelink.link_version_history SET status = 'superseded'
         WHERE link_id = prop.link_id AND status = 'active';
        INSERT INTO tracelink.link_version_history (link_id, version, proposal_id, definition, digest, status)
        VALUES (prop.link_id, prop.version, p_proposal, prop.definition, prop.digest, 'active');
        UPDATE tracelink.trace_links
           SET status = 'active', active_version = prop.version,
               process_order = tracelink.process_order(prop.definition)
         WHERE link_id = prop.link_id;
        UPDATE tracelink.modifications SET status = 'passed' WHERE proposal_id = p_proposal;
        -- the working definitions are now the adopted ones
        UPDATE tracelink.link_processes w SET definition = tracelink.process(prop.definition, w.process)
         WHERE w.link_id = prop.link_id;
    ELSE
        UPDATE tracelink.trace_links
           SET status = CASE WHEN lnk.active_version IS NULL THEN 'designing' ELSE 'active' END
         WHERE link_id = prop.link_id;
        UPDATE tracelink.modifications SET status = 'failed' WHERE proposal_id = p_proposal;
        IF lnk.active_version IS NOT NULL THEN
            UPDATE tracelink.link_processes w
               SET definition = tracelink.process(h.definition, w.process)
              FROM tracelink.link_version_history h
             WHERE w.link_id = prop.link_id AND h.link_id = w.link_id AND h.version = lnk.active_version;
        END IF;
    END IF;
    -- ids only: any login that connects here can LISTEN (docs/workflow.md)
    PERFORM pg_notify('tracelink_link',
                      jsonb_build_object('link', encode(prop.link_id, 'hex'),
                                         'proposal', encode(p_proposal, 'hex'))::text);
END
$$;
COMMENT ON FUNCTION tracelink._decide(bytea, boolean) IS
    'records the outcome of a vote (called by the ballot and close projectors): a passed vote makes its version active';

-- Undo a decision that a close of the vote overrules (_project_close_vote).
CREATE FUNCTION tracelink._undecide(p_proposal bytea) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prop tracelink.proposals;
    previous integer;
BEGIN
    SELECT * INTO prop FROM tracelink.proposals WHERE proposal_id = p_proposal;
    IF prop.status = 'passed' THEN
        DELETE FROM tracelink.link_version_history WHERE link_id = prop.link_id AND version = prop.version;
        SELECT max(version) INTO previous FROM tracelink.link_version_history WHERE link_id = prop.link_id;
        UPDATE tracelink.link_version_history SET status = 'active'
         WHERE link_id = prop.link_id AND version = previous;
        UPDATE tracelink.trace_links l
           SET active_version = previous,
               process_order = coalesce((SELECT tracelink.process_order(h.definition)
                                           FROM tracelink.link_version_history h
                                          WHERE h.link_id = l.link_id AND h.version = previous),
                                        l.process_order)
         WHERE l.link_id = prop.link_id;
    END IF;
    UPDATE tracelink.proposals SET status = 'open' WHERE proposal_id = p_proposal;
    UPDATE tracelink.trace_links SET status = 'voting' WHERE link_id = prop.link_id;
    UPDATE tracelink.modifications SET status = 'voting' WHERE proposal_id = p_proposal;
END
$$;
COMMENT ON FUNCTION tracelink._undecide(bytea) IS
    'reopens a vote whose decision a close overrules (_project_close_vote), restoring the version active before it';

-- The proposal a ballot or close names, which it must list among its
-- dependencies: that keeps every node from judging it before the proposal
-- has taken effect there.
CREATE FUNCTION tracelink._vote_proposal(payload jsonb, deps bytea[]) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proposal bytea;
BEGIN
    IF jsonb_typeof(payload->'proposal') IS DISTINCT FROM 'string'
       OR octet_length(payload->>'proposal') <> 64 THEN
        RAISE EXCEPTION 'a ballot names its proposal by its 32-byte hash' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    proposal := decode(payload->>'proposal', 'hex');
    IF proposal = ANY (deps) IS NOT TRUE THEN
        RAISE EXCEPTION 'a ballot or close must depend on the proposal it names' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN proposal;
END
$$;
COMMENT ON FUNCTION tracelink._vote_proposal(jsonb, bytea[]) IS
    'the proposal a ballot or close names, which must be among its dependencies';

-- A proposal, locked for the tally, with its link's name and creator.
CREATE FUNCTION tracelink._vote_lock(p_proposal bytea, OUT prop tracelink.proposals,
                                     OUT link_name text, OUT creator text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT l.name, l.creator INTO link_name, creator
      FROM tracelink.proposals p JOIN tracelink.trace_links l USING (link_id)
     WHERE p.proposal_id = p_proposal FOR UPDATE OF p;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown proposal' USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO prop FROM tracelink.proposals p WHERE p.proposal_id = p_proposal;
END
$$;
COMMENT ON FUNCTION tracelink._vote_lock(bytea) IS
    'locks a proposal for the tally and reads it, with its link''s name and creator';

CREATE FUNCTION tracelink._project_ballot(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proposal bytea := tracelink._vote_proposal(payload, deps);
    approve boolean;
    v record;
    approvals integer;
    rejections integer;
BEGIN
    IF jsonb_typeof(payload->'approve') IS DISTINCT FROM 'boolean' THEN
        RAISE EXCEPTION 'a ballot must approve (true) or reject (false)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    approve := (payload->'approve')::boolean;
    SELECT * INTO v FROM tracelink._vote_lock(proposal);
    IF NOT origin = ANY ((v.prop).voters) THEN
        RAISE EXCEPTION 'node "%" is not an eligible voter on this proposal for link "%"', origin, v.link_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (v.prop).close_entry IS NOT NULL THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" was closed', v.link_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF local AND (v.prop).status <> 'open' THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" is already decided (%)', v.link_name, (v.prop).status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO tracelink.ballots (proposal_id, voter, approve, reason, entry_hash)
    VALUES (proposal, origin, approve,
            CASE WHEN jsonb_typeof(payload->'reason') = 'string' THEN payload->>'reason' END, entry_hash)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node "%" already voted on this proposal for link "%"', origin, v.link_name
            USING ERRCODE = 'unique_violation', DETAIL = 'Only a voter''s first ballot counts.';
    END IF;
    UPDATE tracelink.proposals p
       SET approvals = p.approvals + approve::integer, rejections = p.rejections + 1 - approve::integer
     WHERE p.proposal_id = proposal
    RETURNING p.approvals, p.rejections INTO approvals, rejections;
    -- decided as soon as it is certain, and only once
    IF (v.prop).status = 'open' THEN
        IF approvals >= (v.prop).threshold THEN
            PERFORM tracelink._decide(proposal, true);
        ELSIF approvals + (cardinality((v.prop).voters) - approvals - rejections) < (v.prop).threshold THEN
            PERFORM tracelink._decide(proposal, false);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_ballot(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.ballot: records an eligible voter''s first ballot and decides the vote as soon as the outcome is certain';

CREATE FUNCTION tracelink._project_close_vote(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proposal bytea := tracelink._vote_proposal(payload, deps);
    v record;
    approvals integer;
BEGIN
    SELECT * INTO v FROM tracelink._vote_lock(proposal);
    IF origin <> v.creator THEN
        RAISE EXCEPTION 'only the creator of link "%" (%) can close its vote', v.link_name, v.creator
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (v.prop).close_entry IS NOT NULL THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" is already closed', v.link_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF local AND (v.prop).status <> 'open' THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" is already decided (%)', v.link_name, (v.prop).status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- a decision taken on ballots the creator had not seen is overruled
    IF (v.prop).status <> 'open' THEN
        PERFORM tracelink._undecide(proposal);
    END IF;
    -- ballots the creator had not seen are late: withdrawn
    WITH late AS (DELETE FROM tracelink.ballots b
                   WHERE b.proposal_id = proposal AND NOT b.entry_hash = ANY (deps)
                  RETURNING b.*)
    INSERT INTO tracelink.quarantine (what, origin, entry_hash, reason, row_data)
    SELECT 'effect', late.voter, late.entry_hash,
           'ballot arrived after the creator closed the vote', to_jsonb(late)
      FROM late;
    UPDATE tracelink.proposals p
       SET approvals = (SELECT count(*) FILTER (WHERE b.approve) FROM tracelink.ballots b
                         WHERE b.proposal_id = p.proposal_id),
           rejections = (SELECT count(*) FILTER (WHERE NOT b.approve) FROM tracelink.ballots b
                          WHERE b.proposal_id = p.proposal_id),
           close_entry = entry_hash
     WHERE p.proposal_id = proposal
    RETURNING p.approvals INTO approvals;
    -- missing ballots count as rejections
    PERFORM tracelink._decide(proposal, approvals >= (v.prop).threshold);
END
$$;
COMMENT ON FUNCTION tracelink._project_close_vote(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.close_vote: the creator decides the vote on the ballots it has seen; later ones are withdrawn';

CREATE FUNCTION tracelink.vote(proposal bytea, approve boolean, reason text DEFAULT NULL)
    RETURNS bytea LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    RETURN tracelink._append_action('tl.link.ballot', jsonb_build_object(
        'proposal', encode(tracelink._required(proposal, 'proposal'), 'hex'),
        'approve', tracelink._required(approve, 'approve'), 'reason', reason), ARRAY[proposal]);
COMMENT ON FUNCTION tracelink.vote(bytea, boolean, text) IS
    'this node''s ballot on a proposal (only the first ballot of each eligible voter counts)';

CREATE FUNCTION tracelink.close_vote(proposal bytea) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tracelink._required(proposal, 'proposal');
    PERFORM tracelink._append_action('tl.link.close_vote',
        jsonb_build_object('proposal', encode(proposal, 'hex')),
        ARRAY[proposal] || (SELECT coalesce(array_agg(b.entry_hash), '{}') FROM tracelink.ballots b
                             WHERE b.proposal_id = proposal));
    RETURN (SELECT p.status FROM tracelink.proposals p WHERE p.proposal_id = proposal);
END
$$;
COMMENT ON FUNCTION tracelink.close_vote(bytea) IS
    'the creator closes a vote early: it is decided on the ballots cast so far, missing ballots counting as rejections; returns the outcome';

GRANT EXECUTE ON FUNCTION tracelink.vote_threshold(jsonb, integer) TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.vote(bytea, boolean, text), tracelink.close_vote(bytea),
                 tracelink._proposal(bytea, text, text, bytea, text[]),
                 tracelink._propose(bytea, text, text, bytea, text[])
    TO tracelink_member;
-- Trace data: records of trace codes at the processes, stages and forms of
-- adopted link versions, the transformations between trace codes, and the
-- provenance queries over them (docs/trace.md).
--
-- Records are ledger entries of kind "tl.trace.record", each holding a batch
-- of records; the tables below are their projection (src/trace_project.c),
-- written on the recording node at once and on every node of the link's
-- business group once the entry arrives.  Surrogate keys (code_id,
-- slot_id) are local to each node and never part of the shared state.

-- Projected state

CREATE SEQUENCE tracelink.code_id_seq AS bigint;
COMMENT ON SEQUENCE tracelink.code_id_seq IS 'local surrogate keys of trace codes';

CREATE TABLE tracelink.codes (
    code_id     bigint PRIMARY KEY,
    link_id     bytea NOT NULL,
    code        text COLLATE "C" NOT NULL,
    version     integer NOT NULL,
    bind_clock  bigint NOT NULL,
    bind_ord    integer NOT NULL,
    bind_slot   integer NOT NULL,
    bind_entry  bytea NOT NULL,
    CONSTRAINT codes_code_link UNIQUE (code, link_id)
);
COMMENT ON TABLE tracelink.codes IS
    'trace codes of each link, bound to the version of their earliest mention (lowest clock, entry hash, place in the entry)';
COMMENT ON COLUMN tracelink.codes.code_id IS 'local surrogate key (not shared state)';
COMMENT ON COLUMN tracelink.codes.version IS 'the link version the code is bound to: its records are checked against it';
COMMENT ON COLUMN tracelink.codes.bind_clock IS 'clock (microseconds since the Unix epoch) of the entry of the earliest mention';
COMMENT ON COLUMN tracelink.codes.bind_ord IS 'place of the earliest mention among the mentions of its entry';
COMMENT ON COLUMN tracelink.codes.bind_slot IS 'where the earliest mention was made (tracelink.record_slots)';
COMMENT ON COLUMN tracelink.codes.bind_entry IS 'hash of the entry of the earliest mention';

CREATE SEQUENCE tracelink.slot_id_seq AS integer;
COMMENT ON SEQUENCE tracelink.slot_id_seq IS 'local surrogate keys of record slots';

CREATE TABLE tracelink.record_slots (
    slot_id  integer PRIMARY KEY,
    version  integer NOT NULL,
    link_id  bytea NOT NULL,
    process  text NOT NULL,
    stage    text NOT NULL,
    form     text NOT NULL,
    origin   text COLLATE "C" NOT NULL,
    source   text NOT NULL,
    CONSTRAINT record_slots_key UNIQUE (link_id, version, process, stage, form, origin, source)
);
COMMENT ON TABLE tracelink.record_slots IS
    'where records are made: link, version, process, stage, form, recording node and data source (few rows; records point here)';

CREATE TABLE tracelink.records (
    code_id      bigint NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    slot_id      integer NOT NULL,
    position     integer NOT NULL,
    entry_hash   bytea NOT NULL,
    data         jsonb NOT NULL,
    commitments  jsonb
);
CREATE INDEX records_code ON tracelink.records (code_id);
CREATE INDEX records_slot_time ON tracelink.records (slot_id, occurred_at);
CREATE INDEX records_time ON tracelink.records (occurred_at);
COMMENT ON TABLE tracelink.records IS
    'trace records: the values of a form recorded for a trace code; (entry_hash, position) names the record in the ledger';
COMMENT ON COLUMN tracelink.records.occurred_at IS 'when it happened: the time given with the record, else recorded_at';
COMMENT ON COLUMN tracelink.records.recorded_at IS 'the clock of the recording entry (the origin''s claim)';
COMMENT ON COLUMN tracelink.records.position IS 'index of the record in its entry''s "records" array, from 0';
COMMENT ON COLUMN tracelink.records.data IS 'the form''s public values, by data item name';
COMMENT ON COLUMN tracelink.records.commitments IS
    'for each private data item given a value: hex SHA-256 of its salt and canonical value (the value itself is in private_values on the nodes of its audience); NULL when none';

-- Private values (docs/privacy.md): held only by the nodes of each item's
-- audience, from tl.trace.private entries checked against the commitments.
CREATE TABLE tracelink.private_values (
    entry_hash     bytea NOT NULL,
    position       integer NOT NULL,
    item           text COLLATE "C" NOT NULL,
    value          jsonb NOT NULL,
    salt           bytea NOT NULL,
    private_entry  bytea NOT NULL
);
CREATE UNIQUE INDEX private_values_record ON tracelink.private_values (entry_hash, position, item);
COMMENT ON TABLE tracelink.private_values IS
    'values of private data items that this node is in the audience of, each matching the commitment its public record holds';
COMMENT ON COLUMN tracelink.private_values.entry_hash IS 'the public entry holding the record (with position)';
COMMENT ON COLUMN tracelink.private_values.salt IS 'the 32 random bytes hashed before the canonical value into the commitment';
COMMENT ON COLUMN tracelink.private_values.private_entry IS 'the tl.trace.private entry that carried the value';

CREATE TABLE tracelink.transformations (
    parent_id   bigint NOT NULL,
    child_id    bigint NOT NULL,
    slot_id     integer NOT NULL,
    position    integer NOT NULL,
    effective    boolean NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    direction    text NOT NULL CHECK (direction IN ('input', 'output')),
    quantity     numeric,
    unit         text,
    entry_hash   bytea NOT NULL
);
CREATE INDEX transformations_child ON tracelink.transformations (child_id, parent_id) INCLUDE (effective);
CREATE INDEX transformations_parent ON tracelink.transformations (parent_id, child_id) INCLUDE (effective);
COMMENT ON TABLE tracelink.transformations IS
    'product-level mesh: the parent trace code went into the child, as a record stated (an input of the child''s record or an output of the parent''s)';
COMMENT ON COLUMN tracelink.transformations.effective IS
    'true while the parent ranks below the child (its earliest mention is earlier); only effective edges are followed, so no code is its own ancestor';

-- Import staging: COPY rows here, then tracelink.record_staged().
CREATE UNLOGGED TABLE tracelink.record_staging (
    id           bigserial PRIMARY KEY,
    link         text NOT NULL,
    code         text NOT NULL,
    process      text NOT NULL,
    stage        text NOT NULL,
    form         text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    source       text NOT NULL DEFAULT 'manual',
    inputs       jsonb,
    outputs      jsonb,
    occurred_at  timestamptz
);
COMMENT ON TABLE tracelink.record_staging IS
    'rows to record in bulk (COPY-friendly, unlogged: reload the file after a crash); tracelink.record_staged() records and removes them in id order';
COMMENT ON SEQUENCE tracelink.record_staging_id_seq IS 'numbers staged rows in the order they were loaded; record_staged() records them in that order';

-- Recording

CREATE FUNCTION tracelink.record(link text, code text, process text, stage text, form text,
                                 data jsonb DEFAULT '{}', source text DEFAULT 'manual',
                                 inputs jsonb DEFAULT NULL, outputs jsonb DEFAULT NULL,
                                 occurred_at timestamptz DEFAULT NULL)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_trace_record'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.record(text, text, text, text, text, jsonb, text, jsonb, jsonb, timestamptz) IS
    'records a form''s values for a trace code at a process and stage of a link (checked against the version the code is bound to), with its data source, the codes it consumes and produces, and when it happened; returns the entry hash (the record is at position 0)';

CREATE FUNCTION tracelink.record_batch(link text, records jsonb) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tl_trace_record_batch'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.record_batch(text, jsonb) IS
    'records a JSON array of records ({"code", "process", "stage", "form", "data", "source", "inputs", "outputs", "occurred_at"}) of one link in one transaction, in order; any refusal refuses all; returns how many';

CREATE FUNCTION tracelink.record_staged(link text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tl_trace_record_staged'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.record_staged(text) IS
    'records the rows of tracelink.record_staging (of one link, or all) in id order in this transaction and removes them; any refusal refuses all; returns how many';

-- Views

CREATE VIEW tracelink.trace_codes AS
SELECT c.code, l.name AS link, c.version, s.process AS first_process, s.origin AS first_node,
       'epoch'::timestamptz + c.bind_clock * interval '1 microsecond' AS first_recorded_at,
       c.bind_entry AS first_entry, c.link_id, c.code_id
  FROM tracelink.codes c
  JOIN tracelink.trace_links l ON l.link_id = c.link_id
  JOIN tracelink.record_slots s ON s.slot_id = c.bind_slot;
COMMENT ON VIEW tracelink.trace_codes IS
    'trace codes with the version they are bound to and their earliest mention (process, node, time, entry)';

CREATE VIEW tracelink.trace_records AS
-- data: the public values, and the private ones this node holds when the
-- caller may read them (tracelink_viewer); commitments show which items
-- are private, the same on every node.
SELECT c.code, l.name AS link, s.version, s.process, s.stage, s.form,
       CASE WHEN r.commitments IS NULL
                 OR NOT pg_catalog.has_table_privilege('tracelink.private_values', 'SELECT') THEN r.data
            ELSE r.data OPERATOR(pg_catalog.||) coalesce(
                     (SELECT pg_catalog.jsonb_object_agg(v.item, v.value)
                        FROM tracelink.private_values v
                       WHERE v.entry_hash OPERATOR(pg_catalog.=) r.entry_hash
                         AND v.position OPERATOR(pg_catalog.=) r.position),
                     '{}'::jsonb) END AS data, s.source,
       s.origin AS node, r.occurred_at, r.recorded_at, r.entry_hash, r.position,
       c.version AS bound_version, s.link_id, r.code_id, r.commitments
  FROM tracelink.records r
  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
  JOIN tracelink.trace_links l ON l.link_id = s.link_id
  JOIN tracelink.codes c ON c.code_id = r.code_id;
COMMENT ON VIEW tracelink.trace_records IS
    'every trace record: code, link, version, process, stage, form, values (private ones where this node holds them and the caller may read them), source, recording node, times, (entry_hash, position) to prove it with tracelink.record_proof(), and the commitments of its private values';

CREATE VIEW tracelink.trace_edges AS
SELECT p.code AS parent, ch.code AS child, l.name AS link, t.quantity, t.unit, t.direction,
       s.version, s.process, s.stage, s.form, s.origin AS node, t.occurred_at, t.recorded_at,
       t.entry_hash, t.position, t.effective, s.link_id, t.parent_id, t.child_id
  FROM tracelink.transformations t
  JOIN tracelink.record_slots s ON s.slot_id = t.slot_id
  JOIN tracelink.trace_links l ON l.link_id = s.link_id
  JOIN tracelink.codes p ON p.code_id = t.parent_id
  JOIN tracelink.codes ch ON ch.code_id = t.child_id;
COMMENT ON VIEW tracelink.trace_edges IS
    'transformations: the parent code went into the child, with quantity and unit, stated by the record (entry_hash, position) made at process/stage/form by node';

-- Provenance

-- trace()'s own start, in C (src/trace_query.c), for the SQL queries below.
CREATE FUNCTION tracelink._trace_start(p_code text, p_link text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tl_trace_start'
    LANGUAGE C STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION tracelink._trace_start(text, text) IS
    'the code_id of a trace code (of one link, when several links use it)';

CREATE FUNCTION tracelink._provenance(start bigint)
    RETURNS TABLE (code_id bigint, relation text, depth integer)
    AS 'MODULE_PATHNAME', 'tl_trace_provenance'
    LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 20;
COMMENT ON FUNCTION tracelink._provenance(bigint) IS
    'the codes upstream (depth < 0) and downstream (depth > 0) of a code through effective transformations, at their shortest distance';

CREATE FUNCTION tracelink.trace(code text, link text DEFAULT NULL)
    RETURNS TABLE (code text, relation text, depth integer, link text, version integer, process text,
                   stage text, form text, data jsonb, source text, node text,
                   occurred_at timestamptz, recorded_at timestamptz, entry_hash bytea, "position" integer,
                   commitments jsonb)
    AS 'MODULE_PATHNAME', 'tl_trace'
    LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION tracelink.trace(text, text) IS
    'the whole provenance of a trace code: every record of it and of the codes upstream (depth < 0) and downstream (depth > 0) through transformations, with process, stage, form, values, source, node, times, version, (entry_hash, position) for tracelink.record_proof(), and the commitments of private values (whose values show where this node holds them and the caller may read them)';

CREATE FUNCTION tracelink._utc(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
COMMENT ON FUNCTION tracelink._utc(timestamptz) IS
    'an instant as ISO 8601 in UTC with microseconds, whatever the session''s TimeZone (query results must not differ between nodes)';

CREATE FUNCTION tracelink.trace_json(code text, link text DEFAULT NULL) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
WITH p AS (
    SELECT * FROM tracelink._provenance(tracelink._trace_start(trace_json.code, trace_json.link))
), pc AS (
    SELECT p.code_id, p.relation, p.depth, c.code, c.version, c.link_id
      FROM p JOIN tracelink.codes c ON c.code_id = p.code_id
), recs AS (
    SELECT r.code_id,
           jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'version', r.version, 'process', r.process, 'stage', r.stage, 'form', r.form,
               'data', r.data, 'commitments', r.commitments, 'source', r.source, 'node', r.node,
               'occurred_at', tracelink._utc(r.occurred_at), 'recorded_at', tracelink._utc(r.recorded_at),
               'entry_hash', encode(r.entry_hash, 'hex'), 'position', r.position))
             ORDER BY r.occurred_at, r.entry_hash, r.position) AS records
      FROM tracelink.trace_records r
     WHERE r.code_id IN (SELECT p.code_id FROM p)
     GROUP BY r.code_id
), edges AS (
    SELECT jsonb_agg(jsonb_build_object(
               'parent', a.code, 'child', b.code, 'quantity', t.quantity, 'unit', t.unit,
               'direction', t.direction, 'version', s.version, 'process', s.process, 'stage', s.stage,
               'form', s.form, 'node', s.origin, 'occurred_at', tracelink._utc(t.occurred_at),
               'entry_hash', encode(t.entry_hash, 'hex'), 'position', t.position)
             ORDER BY a.code, b.code, t.entry_hash, t.position) AS edges
      FROM tracelink.transformations t
      JOIN pc a ON a.code_id = t.parent_id
      JOIN pc b ON b.code_id = t.child_id
      JOIN tracelink.record_slots s ON s.slot_id = t.slot_id
     WHERE t.effective
)
SELECT jsonb_build_object(
    'code', self.code,
    'link', jsonb_build_object('name', l.name, 'id', encode(l.link_id, 'hex')),
    'codes', (SELECT jsonb_agg(jsonb_build_object(
                  'code', pc.code, 'relation', pc.relation, 'depth', pc.depth, 'bound_version', pc.version,
                  'records', coalesce(recs.records, '[]'))
                ORDER BY pc.depth, pc.code)
                FROM pc LEFT JOIN recs ON recs.code_id = pc.code_id),
    'edges', coalesce((SELECT edges.edges FROM edges), '[]'))
  FROM pc self JOIN tracelink.trace_links l ON l.link_id = self.link_id
 WHERE self.relation = 'self'
$$;
COMMENT ON FUNCTION tracelink.trace_json(text, text) IS
    'the provenance of a trace code as one JSON document: the link, every code upstream and downstream with its records, and the transformations between them (times in UTC)';

CREATE FUNCTION tracelink._dot_string(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN '"' || regexp_replace(replace(replace(replace(s, '\', '\\'), '"', '\"'), E'\n', '\n'),
                                 '[\x01-\x1f\x7f]', '', 'g') || '"';
COMMENT ON FUNCTION tracelink._dot_string(text) IS 'a Graphviz DOT quoted string';

CREATE FUNCTION tracelink.trace_dot(code text, link text DEFAULT NULL) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
WITH p AS (
    SELECT * FROM tracelink._provenance(tracelink._trace_start(trace_dot.code, trace_dot.link))
), pc AS (
    SELECT p.code_id, p.relation, p.depth, c.code
      FROM p JOIN tracelink.codes c ON c.code_id = p.code_id
), labels AS (
    SELECT pc.code_id,
           pc.code || coalesce(E'\n' || (SELECT string_agg(x.process || ' (' || x.origin || ')', E'\n'
                                                            ORDER BY x.first, x.process, x.origin)
                                           FROM (SELECT s.process, s.origin, min(r.occurred_at) AS first
                                                   FROM tracelink.records r
                                                   JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
                                                  WHERE r.code_id = pc.code_id
                                                  GROUP BY s.process, s.origin) x), '')
             || E'\n' || (SELECT count(*) FROM tracelink.records r WHERE r.code_id = pc.code_id)
             || ' record(s)' AS label
      FROM pc
)
SELECT 'digraph provenance {' || E'\n'
    || '  rankdir=LR;' || E'\n'
    || '  node [shape=box, style=rounded, fontname="Helvetica"];' || E'\n'
    || '  edge [fontname="Helvetica", fontsize=10];' || E'\n'
    || coalesce((SELECT string_agg('  ' || tracelink._dot_string(pc.code) || ' [label='
                                    || tracelink._dot_string(labels.label)
                                    || CASE WHEN pc.relation = 'self'
                                            THEN ', style="rounded,bold,filled", fillcolor="#fff2cc"' ELSE '' END
                                    || '];', E'\n' ORDER BY pc.depth, pc.code)
                   FROM pc JOIN labels ON labels.code_id = pc.code_id), '') || E'\n'
    || coalesce((SELECT string_agg('  ' || tracelink._dot_string(a.code) || ' -> ' || tracelink._dot_string(b.code)
                                    || coalesce(' [label=' || tracelink._dot_string(nullif(
                                           trim(coalesce(t.quantity::text, '') || ' ' || coalesce(t.unit, '')), ''))
                                           || ']', '')
                                    || ';', E'\n' ORDER BY a.code, b.code, t.entry_hash, t.position)
                   FROM tracelink.transformations t
                   JOIN pc a ON a.code_id = t.parent_id
                   JOIN pc b ON b.code_id = t.child_id
                  WHERE t.effective) || E'\n', '')
    || '}' || E'\n'
$$;
COMMENT ON FUNCTION tracelink.trace_dot(text, text) IS
    'the provenance graph of a trace code in Graphviz DOT: one box per code (its processes, nodes and number of records; the code asked about highlighted), one arrow per transformation labelled with its quantity';

-- Proofs

CREATE FUNCTION tracelink.record_proof(entry_hash bytea, "position" integer) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_trace_record_proof'
    LANGUAGE C STABLE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.record_proof(bytea, integer) IS
    'the proof of one trace record: its entry''s canonical preimage (holding the record at its position), and the entry''s inclusion proof against the latest signed tree head of its origin; check with tracelink.verify_record_proof()';

CREATE FUNCTION tracelink.verify_record_proof(proof jsonb, public_key bytea) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entry_text text := proof->>'entry';
    entry jsonb;
    entry_hash bytea;
    head jsonb := proof->'signed_tree_head';
    hashes bytea[];
BEGIN
    -- the head: well formed, signed by the key; an entry is at most 64 MB
    -- (TL_JSON_MAX_BYTES, docs/ledger.md): a longer one is not read at all
    IF entry_text IS NULL OR head IS NULL OR public_key IS NULL
       OR pg_catalog.octet_length(entry_text) > 67108864
       OR NOT coalesce(tracelink.verify_tree_head(head, public_key), false) THEN
        RETURN false;
    END IF;
    -- the entry: its preimage hashes to the claimed hash
    entry_hash := sha256(convert_to(entry_text, 'UTF8'));
    IF encode(entry_hash, 'hex') IS DISTINCT FROM proof->>'entry_hash' THEN
        RETURN false;
    END IF;
    -- read once: an entry holds a whole batch of records (memory, issue 9)
    entry := entry_text::jsonb;
    entry_text := NULL;
    SELECT array_agg(decode(h, 'hex') ORDER BY i) INTO hashes
      FROM jsonb_array_elements_text(proof->'proof') WITH ORDINALITY AS x(h, i);
    RETURN coalesce(
        -- the entry is of the head's origin
        entry->>'origin' = head->>'origin'
        AND entry->>'kind' = 'tl.trace.record'
        -- the record: at its position in the entry's payload
        AND entry->'payload'->'records'->((proof->>'position')::integer) = proof->'record'
        -- the entry is the leaf at leaf_index of the head's tree
        AND (proof->>'tree_size')::bigint = (head->>'tree_size')::bigint
        AND proof->>'tree_root' = head->>'tree_root'
        AND tracelink.verify_inclusion((proof->>'leaf_index')::bigint, (head->>'tree_size')::bigint,
                                       sha256('\x00'::bytea || entry_hash), coalesce(hashes, '{}'),
                                       decode(head->>'tree_root', 'hex')),
        false);
EXCEPTION WHEN data_exception THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION tracelink.verify_record_proof(jsonb, bytea) IS
    'true when a record proof holds: the signed tree head is signed by public_key, the entry preimage hashes to the entry hash and holds the record at its position, and the entry is included in the head''s tree; false (never an error) for anything malformed';

-- Private values: commitments and disclosure (docs/privacy.md)

CREATE FUNCTION tracelink.commitment(salt bytea, value jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_trace_commitment_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.commitment(bytea, jsonb) IS
    'the commitment to a private value: lowercase hex SHA-256 of the 32-byte salt followed by the value''s RFC 8785 canonical JSON';

CREATE FUNCTION tracelink.disclose(entry_hash bytea, "position" integer, item text) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    held record;
BEGIN
    SELECT v.value, v.salt INTO held
      FROM tracelink.private_values v
     WHERE v.entry_hash = disclose.entry_hash AND v.position = disclose.position AND v.item = disclose.item;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this node holds no private value of data item "%" for that record', item
            USING ERRCODE = 'undefined_object',
                  HINT = 'Only the nodes of the item''s audience hold its values: see tracelink.trace_records.commitments.';
    END IF;
    RETURN jsonb_build_object('item', item, 'value', held.value, 'salt', encode(held.salt, 'hex'),
                              'record_proof', tracelink.record_proof(entry_hash, position));
END
$$;
COMMENT ON FUNCTION tracelink.disclose(bytea, integer, text) IS
    'a proof of one private value for an outsider: the value, its salt and the record''s proof (tracelink.record_proof); checked by tracelink.verify_disclosure() with the origin''s public key and nothing else';

CREATE FUNCTION tracelink.verify_disclosure(proof jsonb, public_key bytea) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    record_proof jsonb := proof->'record_proof';
BEGIN
    IF jsonb_typeof(proof) IS DISTINCT FROM 'object' OR jsonb_typeof(proof->'item') IS DISTINCT FROM 'string'
       OR NOT proof ? 'value' OR jsonb_typeof(proof->'salt') IS DISTINCT FROM 'string' THEN
        RETURN false;
    END IF;
    RETURN coalesce(
        tracelink.verify_record_proof(record_proof, public_key)
        AND record_proof->'record'->'commitments'->>(proof->>'item')
            = tracelink.commitment(decode(proof->>'salt', 'hex'), proof->'value'),
        false);
EXCEPTION WHEN data_exception THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION tracelink.verify_disclosure(jsonb, bytea) IS
    'true when a disclosure proof holds: the record proof verifies with public_key (the origin''s key) and the record''s commitment for the item equals tracelink.commitment(salt, value); false (never an error) for anything malformed';

-- Shared state

CREATE FUNCTION tracelink._trace_state() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    'codes', (SELECT encode(sha256(convert_to(coalesce(string_agg(
                  encode(c.link_id, 'hex') || ' ' || c.code || ' ' || c.version || ' ' || c.bind_clock || ' '
                  || encode(c.bind_entry, 'hex') || ' ' || c.bind_ord, E'\n' ORDER BY c.link_id, c.code), ''),
                  'UTF8')), 'hex')
                FROM tracelink.codes c),
    'records', (SELECT jsonb_build_array(count(*), encode(sha256(convert_to(coalesce(string_agg(
                    encode(r.entry_hash, 'hex') || ' ' || r.position || ' ' || c.code, E'\n'
                    ORDER BY r.entry_hash, r.position), ''), 'UTF8')), 'hex'))
                  FROM tracelink.records r JOIN tracelink.codes c ON c.code_id = r.code_id),
    'edges', (SELECT jsonb_build_array(count(*), encode(sha256(convert_to(coalesce(string_agg(
                  encode(t.entry_hash, 'hex') || ' ' || t.position || ' ' || t.direction || ' ' || p.code
                  || ' ' || c.code || ' ' || t.effective || ' ' || coalesce(t.quantity::text, '-') || ' '
                  || coalesce(t.unit, '-'), E'\n' ORDER BY t.entry_hash, t.position, t.direction, p.code, c.code), ''),
                  'UTF8')), 'hex'))
                FROM tracelink.transformations t
                JOIN tracelink.codes p ON p.code_id = t.parent_id
                JOIN tracelink.codes c ON c.code_id = t.child_id))
$$;
COMMENT ON FUNCTION tracelink._trace_state() IS
    'digests of the projected trace data for state_digest(): codes with their bindings, records, transformations (surrogate keys left out)';

-- Privileges

GRANT SELECT ON tracelink.codes, tracelink.record_slots, tracelink.records, tracelink.transformations,
                tracelink.trace_codes, tracelink.trace_records, tracelink.trace_edges TO tracelink_reader;
GRANT SELECT, INSERT, DELETE ON tracelink.record_staging TO tracelink_member;
GRANT USAGE ON SEQUENCE tracelink.record_staging_id_seq TO tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink.trace(text, text), tracelink.trace_json(text, text),
                 tracelink.trace_dot(text, text), tracelink.record_proof(bytea, integer),
                 tracelink.verify_record_proof(jsonb, bytea),
                 tracelink.commitment(bytea, jsonb), tracelink.verify_disclosure(jsonb, bytea),
                 tracelink._trace_start(text, text), tracelink._provenance(bigint),
                 tracelink._utc(timestamptz), tracelink._dot_string(text), tracelink._trace_state()
    TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.record(text, text, text, text, text, jsonb, text, jsonb, jsonb, timestamptz),
                 tracelink.record_batch(text, jsonb), tracelink.record_staged(text)
    TO tracelink_member;
-- private values: for the roles that may see them (docs/privacy.md)
GRANT SELECT ON tracelink.private_values TO tracelink_viewer;
GRANT EXECUTE ON FUNCTION tracelink.disclose(bytea, integer, text) TO tracelink_viewer;
-- Off-chain files: content-addressed blobs in chunks (docs/files.md,
-- src/blob.c).  A record's image, video or file item holds a file
-- reference {"sha256", "name", "media_type", "size"}; the bytes are here,
-- replicated to the blob's audience only (sqlsrc/50_replication.sql).
-- No foreign keys (sqlsrc/95_dump.sql).

CREATE TABLE tracelink.blobs (
    sha256       bytea PRIMARY KEY,
    origin       text COLLATE "C" NOT NULL,
    size         bigint NOT NULL,
    media_type   text,
    chunk_size   integer NOT NULL,
    chunk_count  integer NOT NULL,
    audience     text[] COLLATE "C",
    stored_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE tracelink.blobs IS
    'files held by this node: SHA-256 and size of the whole, its chunks in blob_chunks (docs/files.md)';
COMMENT ON COLUMN tracelink.blobs.origin IS 'the node that stored the file (it publishes the rows)';
COMMENT ON COLUMN tracelink.blobs.audience IS 'the nodes that receive the file, the origin among them; NULL: every peer';
COMMENT ON COLUMN tracelink.blobs.chunk_size IS 'bytes per chunk (the last is shorter): 1 MiB on every node';
COMMENT ON COLUMN tracelink.blobs.stored_at IS 'when the row was written on this node';

CREATE TABLE tracelink.blob_chunks (
    sha256        bytea NOT NULL,
    chunk_no      integer NOT NULL,
    origin        text COLLATE "C" NOT NULL,
    audience      text[] COLLATE "C",
    chunk_sha256  bytea NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (sha256, chunk_no)
);
-- chunks are mostly images and videos, compressed already: no attempts
ALTER TABLE tracelink.blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE tracelink.blob_chunks IS
    'the bytes of the files in tracelink.blobs, 1 MiB a chunk, each with its own SHA-256; read them with read_blob(), which checks them';
COMMENT ON COLUMN tracelink.blob_chunks.chunk_no IS 'position of the chunk in the file, from 0';
COMMENT ON COLUMN tracelink.blob_chunks.audience IS 'the blob''s audience (repeated so that the publication''s row filter can use it)';
COMMENT ON COLUMN tracelink.blob_chunks.chunk_sha256 IS 'SHA-256 of data';

-- Rows from peers: checked, quarantined or skipped if held (src/blob.c);
-- ALWAYS, since the apply worker runs in replica mode.
CREATE FUNCTION tracelink._blob_row_inserted() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tl_blob_row_inserted'
    LANGUAGE C;
COMMENT ON FUNCTION tracelink._blob_row_inserted() IS
    'rows of blobs and blob_chunks from peers: checked (chunk hashes, sizes, audience), refused ones quarantined, held ones skipped';
CREATE TRIGGER from_peers BEFORE INSERT ON tracelink.blobs
    FOR EACH ROW EXECUTE FUNCTION tracelink._blob_row_inserted();
CREATE TRIGGER from_peers BEFORE INSERT ON tracelink.blob_chunks
    FOR EACH ROW EXECUTE FUNCTION tracelink._blob_row_inserted();
ALTER TABLE tracelink.blobs ENABLE ALWAYS TRIGGER from_peers;
ALTER TABLE tracelink.blob_chunks ENABLE ALWAYS TRIGGER from_peers;

CREATE FUNCTION tracelink.store_blob(content oid, name text, media_type text DEFAULT NULL,
                                     audience text[] DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_store_blob'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.store_blob(oid, text, text, text[]) IS
    'stores the bytes of a large object as a blob (chunk by chunk; the large object is left to the caller) for the audience (NULL: every peer; this node always holds it) and returns the file reference to put in a record';

CREATE FUNCTION tracelink.read_blob(sha256 bytea) RETURNS SETOF bytea
    AS 'MODULE_PATHNAME', 'tl_read_blob'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 16;
COMMENT ON FUNCTION tracelink.read_blob(bytea) IS
    'the chunks of a blob in order, once every chunk, the size and the whole file''s SHA-256 have been checked (XX001 if corrupt, 42704 if not held); in a SELECT list one chunk at a time is in memory';

CREATE FUNCTION tracelink.blob_to_lo(sha256 bytea) RETURNS oid
    AS 'MODULE_PATHNAME', 'tl_blob_to_lo'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.blob_to_lo(bytea) IS
    'a new large object (owned by the caller) with the bytes of a blob, checked first as read_blob() checks them: for psql''s \lo_export';

-- Which blobs this node is entitled to hold: the file references among the
-- values it holds, public (records.data) and private (private_values).
-- Only file references are JSON objects among values, and the projector
-- has checked their shape.  (The one place to extend when other values
-- carry file references.)
CREATE FUNCTION tracelink._blob_references()
    RETURNS TABLE (sha256 text, name text, media_type text, size bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT DISTINCT x.value->>'sha256', x.value->>'name', x.value->>'media_type',
       (x.value->>'size')::numeric::bigint
  FROM (SELECT v.value FROM tracelink.records r, jsonb_each(r.data) v
        UNION ALL
        SELECT p.value FROM tracelink.private_values p) AS x(value)
 WHERE jsonb_typeof(x.value) = 'object' AND x.value ? 'sha256'
$$;
COMMENT ON FUNCTION tracelink._blob_references() IS
    'the file references (hex SHA-256, name, media type, size) among the values this node holds, public and private: the blobs it is entitled to';

-- SECURITY DEFINER: an auditor checks the blobs of private values too,
-- and sees only hashes and statuses, never bytes or values.
CREATE FUNCTION tracelink.verify_blobs() RETURNS TABLE (sha256 bytea, status text, detail text)
    AS 'MODULE_PATHNAME', 'tl_verify_blobs'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION tracelink.verify_blobs() IS
    'every blob this node holds or is entitled to hold (file references of its trace records): ok, missing (not held, or chunks missing) or corrupt (a chunk or the whole that does not match its SHA-256), with the detail';

CREATE FUNCTION tracelink.fetch_blob(sha256 bytea, peer text DEFAULT NULL) RETURNS integer
    AS 'MODULE_PATHNAME', 'tl_fetch_blob'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.fetch_blob(bytea, text) IS
    'replaces the missing or corrupt chunks of a blob with verified ones from a peer (given, or the blob''s origin first, then the others) over this node''s subscription''s connection; returns how many chunks it replaced';

-- What a peer's fetch_blob() asks for: a blob's header and chunks, for the
-- nodes of its audience only.  The peer is told by its login
-- (peer_login_name()).
CREATE FUNCTION tracelink._serve_blob(sha256 bytea)
    RETURNS TABLE (size bigint, chunk_count integer, origin text, audience text[], media_type text)
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT b.size, b.chunk_count, b.origin, b.audience, b.media_type
  FROM tracelink.blobs b, tracelink.nodes n
 WHERE b.sha256 = _serve_blob.sha256
   AND NOT n.is_local AND tracelink.peer_login_name(n.name) = session_user
   AND (b.audience IS NULL OR n.name = ANY (b.audience))
$$;
COMMENT ON FUNCTION tracelink._serve_blob(bytea) IS
    'for a peer''s fetch_blob(): the header of a blob, if the peer logged in (session_user) is in its audience';

CREATE FUNCTION tracelink._serve_blob_chunk(sha256 bytea, chunk_no integer)
    RETURNS TABLE (chunk_sha256 bytea, data bytea)
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT c.chunk_sha256, c.data
  FROM tracelink.blob_chunks c, tracelink.nodes n
 WHERE c.sha256 = _serve_blob_chunk.sha256 AND c.chunk_no = _serve_blob_chunk.chunk_no
   AND NOT n.is_local AND tracelink.peer_login_name(n.name) = session_user
   AND (c.audience IS NULL OR n.name = ANY (c.audience))
$$;
COMMENT ON FUNCTION tracelink._serve_blob_chunk(bytea, integer) IS
    'for a peer''s fetch_blob(): one chunk of a blob, if the peer logged in (session_user) is in its audience';

REVOKE ALL ON FUNCTION tracelink._serve_blob(bytea), tracelink._serve_blob_chunk(bytea, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION tracelink.store_blob(oid, text, text, text[]), tracelink.read_blob(bytea),
                       tracelink.blob_to_lo(bytea), tracelink.verify_blobs(),
                       tracelink.fetch_blob(bytea, text), tracelink._blob_references(),
                       tracelink._blob_row_inserted() FROM PUBLIC;
GRANT SELECT ON tracelink.blobs TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.store_blob(oid, text, text, text[]) TO tracelink_recorder, tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink.read_blob(bytea), tracelink.blob_to_lo(bytea) TO tracelink_viewer;
GRANT EXECUTE ON FUNCTION tracelink.verify_blobs() TO tracelink_reader;
-- private values' references are private values: for the roles that see them
GRANT EXECUTE ON FUNCTION tracelink._blob_references() TO tracelink_viewer;
GRANT EXECUTE ON FUNCTION tracelink.fetch_blob(bytea, text) TO tracelink_admin;
-- GS1 CBV 2.0 "Event Hash ID" of one EPCIS 2.0 JSON/JSON-LD event (src/epcis_hash.c).

CREATE FUNCTION tracelink.epcis_prehash(event jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_epcis_prehash_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.epcis_prehash(jsonb) IS
    'Canonical pre-hash string of one EPCIS 2.0 event (GS1 CBV 2.0 Event Hash ID): canonical field order, GS1 keys as Digital Link, times in UTC with milliseconds, sorted lists and extensions; namespaces from the event''s @context';

CREATE FUNCTION tracelink.epcis_event_hash(event jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_epcis_event_hash_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.epcis_event_hash(jsonb) IS
    'GS1 CBV 2.0 Event Hash ID of one EPCIS 2.0 event: ni:///sha-256;<hex>?ver=CBV2.0 over its pre-hash string';

GRANT EXECUTE ON FUNCTION tracelink.epcis_prehash(jsonb), tracelink.epcis_event_hash(jsonb) TO tracelink_reader;
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
-- GS1 EPCIS 2.0 in and out (docs/epcis.md): the mapping of events to the
-- processes, stages and forms of a link, the import of EPCIS documents as
-- trace records, their export as EPCIS documents, and the query views.
--
-- An imported event becomes one record per EPC it names, at the mapped
-- stage, with source "external"; every such record holds the event's hash
-- ID in the item "event_id", and the first one of the event also holds the
-- event itself (canonical JSON) in the item "event".

-- Mapping (node-local configuration)

CREATE TABLE tracelink.epcis_mapping (
    link_id       bytea NOT NULL,
    biz_step      text NOT NULL DEFAULT '',
    read_point    text NOT NULL DEFAULT '',
    biz_location  text NOT NULL DEFAULT '',
    process       text NOT NULL,
    stage         text NOT NULL,
    form          text NOT NULL,
    PRIMARY KEY (link_id, biz_step, read_point, biz_location)
);
COMMENT ON TABLE tracelink.epcis_mapping IS
    'where imported EPCIS events of a link are recorded: by bizStep (bare CBV name) and readPoint / bizLocation LIKE patterns (empty: any); the most specific row wins (docs/epcis.md)';
COMMENT ON COLUMN tracelink.epcis_mapping.biz_step IS 'bare CBV business step ("shipping"), empty for any';
COMMENT ON COLUMN tracelink.epcis_mapping.read_point IS 'LIKE pattern over the readPoint id, empty for any';
COMMENT ON COLUMN tracelink.epcis_mapping.biz_location IS 'LIKE pattern over the bizLocation id, empty for any';
SELECT pg_catalog.pg_extension_config_dump('tracelink.epcis_mapping', '');

-- Streaming import: COPY one event (JSON) per line, then import_epcis_staged().
CREATE UNLOGGED TABLE tracelink.epcis_staging (
    id     bigserial PRIMARY KEY,
    event  jsonb NOT NULL
);
COMMENT ON TABLE tracelink.epcis_staging IS
    'EPCIS events to import in bulk, one JSON event per row (COPY-friendly, unlogged); tracelink.import_epcis_staged() imports and removes them in id order';
COMMENT ON SEQUENCE tracelink.epcis_staging_id_seq IS 'numbers staged events in the order they were loaded';
SELECT pg_catalog.pg_extension_config_dump('tracelink.epcis_staging', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.epcis_staging_id_seq', '');

-- Helpers

CREATE FUNCTION tracelink._epcis_link(link text) RETURNS bytea
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bytea[];
    one bytea;
BEGIN
    SELECT array_agg(l.link_id) INTO ids FROM tracelink.trace_links l WHERE l.name = link;
    IF cardinality(ids) = 1 THEN
        RETURN ids[1];
    END IF;
    IF cardinality(ids) > 1 THEN
        RAISE EXCEPTION 'link name "%" is ambiguous', link
            USING ERRCODE = 'ambiguous_parameter', HINT = 'Name the link by its id (hex).';
    END IF;
    SELECT l.link_id INTO one FROM tracelink.trace_links l
     WHERE link ~ '^[0-9a-f]{64}$' AND l.link_id = decode(link, 'hex');
    IF one IS NULL THEN
        RAISE EXCEPTION 'link "%" does not exist', link USING ERRCODE = 'undefined_object';
    END IF;
    RETURN one;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_link(text) IS 'the id of a link named by name or id (hex)';

CREATE FUNCTION tracelink._epcis_bare(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT regexp_replace(v, '^(urn:epcglobal:cbv:[a-z]+:|https://ref\.gs1\.org/cbv/[A-Za-z]+-)', '')
$$;
COMMENT ON FUNCTION tracelink._epcis_bare(text) IS
    'a CBV value without its URN or Web URI prefix: "urn:epcglobal:cbv:bizstep:shipping" and "https://ref.gs1.org/cbv/BizStep-shipping" give "shipping"';

CREATE FUNCTION tracelink._epcis_forms(link_id bytea,
    OUT ord bigint, OUT process text, OUT stage text, OUT form text)
    RETURNS SETOF record
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT row_number() OVER (ORDER BY p.ord, s.ord, f.position), tracelink.name(p.p), tracelink.name(s.s), f.name
  FROM tracelink.trace_links l
  JOIN tracelink.link_version_history h ON h.link_id = l.link_id AND h.version = l.active_version
 CROSS JOIN LATERAL tracelink.processes(h.definition) WITH ORDINALITY AS p(p, ord)
 CROSS JOIN LATERAL tracelink.stages(p.p) WITH ORDINALITY AS s(s, ord)
 CROSS JOIN LATERAL tracelink.forms(s.s) f
 WHERE l.link_id = $1
   AND f.items @> '[{"name": "event_id", "type": "text"}]'
   AND f.items @> '[{"name": "event", "type": "text"}]'
 ORDER BY 1
$$;
COMMENT ON FUNCTION tracelink._epcis_forms(bytea) IS
    'the EPCIS-capable forms (text items "event_id" and "event") of the link''s active version, in process, stage and form order';

CREATE FUNCTION tracelink._epcis_target(link_id bytea, biz_step text, read_point text, biz_location text,
    OUT process text, OUT stage text, OUT form text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT t.process, t.stage, t.form FROM (
    SELECT 0 AS k, (m.biz_step <> '')::int + (m.read_point <> '')::int + (m.biz_location <> '')::int AS spec,
           m.biz_step, m.read_point, m.biz_location, m.process, m.stage, m.form
      FROM tracelink.epcis_mapping m
     WHERE m.link_id = $1
       AND (m.biz_step = '' OR m.biz_step = coalesce($2, ''))
       AND (m.read_point = '' OR coalesce($3, '') LIKE m.read_point)
       AND (m.biz_location = '' OR coalesce($4, '') LIKE m.biz_location)
    UNION ALL
    (SELECT 1, 0, '', '', '', f.process, f.stage, f.form
       FROM tracelink._epcis_forms($1) f
      ORDER BY CASE WHEN coalesce($2, '') IN ('', 'commissioning', 'harvesting', 'creating_class_instance', 'encoding')
                    THEN f.ord ELSE -f.ord END
      LIMIT 1)
) t
ORDER BY t.k, t.spec DESC, t.biz_step DESC, t.read_point DESC, t.biz_location DESC
LIMIT 1
$$;
COMMENT ON FUNCTION tracelink._epcis_target(bytea, text, text, text) IS
    'where an event is recorded: the most specific matching row of tracelink.epcis_mapping, else the default (first EPCIS-capable form for commissioning, harvesting, creating_class_instance, encoding or no bizStep; the last one for any other bizStep)';

CREATE FUNCTION tracelink.set_epcis_mapping(link text, process text, stage text, form text,
                                           biz_step text DEFAULT NULL, read_point text DEFAULT NULL,
                                           biz_location text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    lid bytea := tracelink._epcis_link(link);
BEGIN
    IF NOT EXISTS (SELECT FROM tracelink._epcis_forms(lid) f
                    WHERE f.process = set_epcis_mapping.process AND f.stage = set_epcis_mapping.stage
                      AND f.form = set_epcis_mapping.form) THEN
        RAISE EXCEPTION 'form "%" of stage "%" of process "%" is not an EPCIS form of the active version of link "%"',
                        form, stage, process, link
            USING ERRCODE = 'undefined_object',
                  HINT = 'An EPCIS form has the text items "event_id" and "event" (docs/epcis.md).';
    END IF;
    INSERT INTO tracelink.epcis_mapping AS m (link_id, biz_step, read_point, biz_location, process, stage, form)
    VALUES (lid, coalesce(tracelink._epcis_bare(biz_step), ''), coalesce(read_point, ''), coalesce(biz_location, ''),
            set_epcis_mapping.process, set_epcis_mapping.stage, set_epcis_mapping.form)
    ON CONFLICT (link_id, biz_step, read_point, biz_location)
    DO UPDATE SET process = excluded.process, stage = excluded.stage, form = excluded.form;
END
$$;
COMMENT ON FUNCTION tracelink.set_epcis_mapping(text, text, text, text, text, text, text) IS
    'maps EPCIS events of a link (by bizStep, readPoint and bizLocation LIKE patterns; NULL: any) to an EPCIS form of its active version';

CREATE FUNCTION tracelink.clear_epcis_mapping(link text, biz_step text DEFAULT NULL, read_point text DEFAULT NULL,
                                             biz_location text DEFAULT NULL) RETURNS integer
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
WITH d AS (
    DELETE FROM tracelink.epcis_mapping m
     WHERE m.link_id = tracelink._epcis_link($1)
       AND m.biz_step = coalesce(tracelink._epcis_bare($2), '')
       AND m.read_point = coalesce($3, '') AND m.biz_location = coalesce($4, '')
    RETURNING 1)
SELECT count(*)::integer FROM d
$$;
COMMENT ON FUNCTION tracelink.clear_epcis_mapping(text, text, text, text) IS
    'removes the mapping row of a link for exactly that bizStep, readPoint and bizLocation (NULL: the "any" row); returns how many rows went';

CREATE FUNCTION tracelink._epcis_list(event jsonb, epcs text, quantities text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT coalesce(jsonb_agg(x.item ORDER BY x.ord), '[]')
  FROM (SELECT DISTINCT ON (y.item->>'code') y.item, y.ord FROM (
          SELECT jsonb_build_object('code', e #>> '{}') AS item, o AS ord
            FROM jsonb_array_elements(CASE jsonb_typeof($1 -> $2) WHEN 'array' THEN $1 -> $2 ELSE '[]' END)
                 WITH ORDINALITY AS a(e, o)
          UNION ALL
          SELECT jsonb_build_object('code', q ->> 'epcClass')
                 || CASE WHEN jsonb_typeof(q -> 'quantity') = 'number' AND (q ->> 'quantity')::numeric > 0
                         THEN jsonb_strip_nulls(jsonb_build_object('quantity', q -> 'quantity', 'unit', q ->> 'uom'))
                         ELSE '{}' END, 1000000 + o
            FROM jsonb_array_elements(CASE jsonb_typeof($1 -> $3) WHEN 'array' THEN $1 -> $3 ELSE '[]' END)
                 WITH ORDINALITY AS a(q, o)) y
         ORDER BY y.item->>'code', y.ord) x
$$;
COMMENT ON FUNCTION tracelink._epcis_list(jsonb, text, text) IS
    'the codes an event lists under an EPC list and a quantity list, as record inputs ({"code", "quantity", "unit"}), first occurrence kept, in order';

CREATE FUNCTION tracelink._epcis_check(event jsonb, path text) RETURNS text[]
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := event ->> 'type';
    key text;
BEGIN
    IF jsonb_typeof(event) IS DISTINCT FROM 'object' THEN
        RETURN ARRAY[path, 'an event is a JSON object'];
    END IF;
    IF t IS NULL OR t NOT IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent', 'AssociationEvent', 'TransactionEvent') THEN
        RETURN ARRAY[path || '.type',
            format('unsupported event type %s', coalesce(event -> 'type', 'null'))];
    END IF;
    IF coalesce(event ->> 'eventTime', '') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$' THEN
        RETURN ARRAY[path || '.eventTime', 'eventTime is a date-time with its offset'];
    END IF;
    IF t <> 'TransformationEvent' AND (event ->> 'action') IS DISTINCT FROM 'ADD'
       AND (event ->> 'action') IS DISTINCT FROM 'OBSERVE' AND (event ->> 'action') IS DISTINCT FROM 'DELETE' THEN
        RETURN ARRAY[path || '.action', 'action is ADD, OBSERVE or DELETE'];
    END IF;
    FOREACH key IN ARRAY ARRAY['epcList', 'childEPCs', 'inputEPCList', 'outputEPCList',
                               'quantityList', 'childQuantityList', 'inputQuantityList', 'outputQuantityList'] LOOP
        IF event ? key AND (jsonb_typeof(event -> key) <> 'array'
            OR EXISTS (SELECT FROM jsonb_array_elements(event -> key) e
                        WHERE CASE WHEN key ILIKE '%QuantityList' THEN jsonb_typeof(e -> 'epcClass') IS DISTINCT FROM 'string'
                                   ELSE jsonb_typeof(e) <> 'string' END)) THEN
            RETURN ARRAY[path || '.' || key,
                CASE WHEN key ILIKE '%QuantityList' THEN 'a quantity list is an array of objects with an "epcClass" string'
                     ELSE 'an EPC list is an array of strings' END];
        END IF;
    END LOOP;
    IF event ? 'parentID' AND jsonb_typeof(event -> 'parentID') <> 'string' THEN
        RETURN ARRAY[path || '.parentID', 'parentID is a string'];
    END IF;
    IF event ? 'readPoint' AND jsonb_typeof(event #> '{readPoint,id}') IS DISTINCT FROM 'string' THEN
        RETURN ARRAY[path || '.readPoint', 'readPoint is an object with an "id" string'];
    END IF;
    IF event ? 'bizLocation' AND jsonb_typeof(event #> '{bizLocation,id}') IS DISTINCT FROM 'string' THEN
        RETURN ARRAY[path || '.bizLocation', 'bizLocation is an object with an "id" string'];
    END IF;
    IF event ? 'bizStep' AND jsonb_typeof(event -> 'bizStep') <> 'string' THEN
        RETURN ARRAY[path || '.bizStep', 'bizStep is a string'];
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_check(jsonb, text) IS
    'the first problem (JSON path, message), or NULL, of an event whose structure the import cannot map: type, eventTime, action, EPC and quantity lists, parentID, readPoint, bizLocation, bizStep';

CREATE FUNCTION tracelink._epcis_records(event jsonb, event_id text, process text, stage text, form text)
    RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := event ->> 'type';
    base jsonb := jsonb_build_object('process', process, 'stage', stage, 'form', form, 'source', 'external',
                                     'occurred_at', event ->> 'eventTime');
    subjects jsonb;
    inputs jsonb := '[]';
    tops jsonb := '[]';
    recs jsonb;
BEGIN
    IF t IN ('ObjectEvent', 'TransactionEvent') THEN
        subjects := tracelink._epcis_list(event, 'epcList', 'quantityList');
        IF t = 'TransactionEvent' AND event ? 'parentID' THEN
            subjects := jsonb_build_array(jsonb_build_object('code', event ->> 'parentID')) || subjects;
        END IF;
        IF subjects = '[]' AND event ? 'readPoint' THEN
            subjects := jsonb_build_array(jsonb_build_object('code', event #>> '{readPoint,id}'));
        END IF;
    ELSIF t IN ('AggregationEvent', 'AssociationEvent') THEN
        subjects := tracelink._epcis_list(event, 'childEPCs', 'childQuantityList');
        IF event ? 'parentID' THEN
            tops := jsonb_build_array(jsonb_build_object('code', event ->> 'parentID'));
            IF t = 'AggregationEvent' AND event ->> 'action' = 'ADD' THEN
                inputs := subjects;
            END IF;
        END IF;
    ELSE
        subjects := tracelink._epcis_list(event, 'inputEPCList', 'inputQuantityList');
        tops := (SELECT coalesce(jsonb_agg(jsonb_build_object('code', o ->> 'code') ORDER BY n), '[]')
                   FROM jsonb_array_elements(tracelink._epcis_list(event, 'outputEPCList', 'outputQuantityList'))
                        WITH ORDINALITY AS a(o, n));
        inputs := subjects;
    END IF;
    -- a code listed both as a subject and at the top is recorded once, at the top
    IF tops <> '[]' THEN
        subjects := (SELECT coalesce(jsonb_agg(s ORDER BY n), '[]')
                       FROM jsonb_array_elements(subjects) WITH ORDINALITY AS a(s, n)
                      WHERE NOT tops @> jsonb_build_array(jsonb_build_object('code', s ->> 'code')));
        IF inputs <> '[]' THEN
            inputs := (SELECT coalesce(jsonb_agg(s ORDER BY n), '[]')
                         FROM jsonb_array_elements(inputs) WITH ORDINALITY AS a(s, n)
                        WHERE NOT tops @> jsonb_build_array(jsonb_build_object('code', s ->> 'code')));
        END IF;
    END IF;
    -- the first record holds the event
    SELECT jsonb_agg(base || jsonb_build_object('code', r.code, 'data',
                         CASE WHEN r.rn = 1 THEN jsonb_build_object('event_id', event_id, 'event', event::text)
                              ELSE jsonb_build_object('event_id', event_id) END) || r.extra ORDER BY r.n)
      INTO recs
      FROM (SELECT u.code, u.extra, u.n, row_number() OVER (ORDER BY u.n) AS rn
              FROM (SELECT s ->> 'code' AS code, '{}'::jsonb AS extra, n
                      FROM jsonb_array_elements(subjects) WITH ORDINALITY AS a(s, n)
                    UNION ALL
                    SELECT o ->> 'code', CASE WHEN inputs = '[]' THEN '{}' ELSE jsonb_build_object('inputs', inputs) END,
                           1000000 + n
                      FROM jsonb_array_elements(tops) WITH ORDINALITY AS a(o, n)) u) r;
    RETURN recs;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_records(jsonb, text, text, text, text) IS
    'the records of one event (docs/epcis.md): a record per EPC or class it names, the parent / outputs last with the consumed codes as inputs; the first record holds the event; NULL when it names no code';

-- Import

CREATE FUNCTION tracelink._epcis_flush(link text, batch jsonb[], batch_events integer[], list_path text)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec_no integer;
    ctx text;
    st text;
    msg text;
BEGIN
    RETURN tracelink.record_batch(link, to_jsonb(batch));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    rec_no := substring(ctx FROM 'trace record ([0-9]+) of the batch')::integer;
    IF rec_no IS NULL THEN
        RAISE;
    END IF;
    RAISE EXCEPTION 'EPCIS document refused: event % at %[%]: %', batch_events[rec_no], list_path,
                    batch_events[rec_no], msg
        USING ERRCODE = st, DETAIL = 'Nothing of the document was imported.';
END
$$;
COMMENT ON FUNCTION tracelink._epcis_flush(text, jsonb[], integer[], text) IS
    'records a chunk of an import with record_batch(); a refused record is reported as the refusal of its event (index, path)';

CREATE FUNCTION tracelink._epcis_import(event_list jsonb, context jsonb, link text, list_path text, first_index integer,
    OUT events integer, OUT imported integer, OUT duplicates integer, OUT records integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lid bytea := tracelink._epcis_link(link);
    ev jsonb;
    idx integer := first_index - 1;
    path text;
    id text;
    problem text[];
    targets jsonb := '{}';
    slots integer[];
    tkey text;
    tp text;
    ts text;
    tf text;
    recs jsonb;
    one jsonb;
    batch jsonb[] := '{}';
    batch_events integer[] := '{}';
    seen text[] := '{}';
    chunk integer := 500;
BEGIN
    events := 0;
    imported := 0;
    duplicates := 0;
    records := 0;
    -- imports on one node take turns, so that an event is recognised by its ID
    PERFORM pg_advisory_xact_lock(1951549746, 13);
    slots := ARRAY(SELECT s.slot_id FROM tracelink.record_slots s WHERE s.link_id = lid);
    FOR ev IN SELECT e FROM jsonb_array_elements(event_list) e LOOP
        idx := idx + 1;
        events := events + 1;
        path := list_path || '[' || idx || ']';
        problem := tracelink._epcis_check(ev, path);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'EPCIS document refused: event % at %: %', idx, problem[1], problem[2]
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing of the document was imported.';
        END IF;
        IF context IS NOT NULL AND NOT ev ? '@context' THEN
            ev := ev || jsonb_build_object('@context', context);
        END IF;
        id := tracelink.epcis_event_hash(ev);
        -- by the event ID index first (OFFSET 0 keeps the planner from
        -- reading all the link's records instead), then the link's slots
        IF id = ANY (seen) OR EXISTS (
               SELECT FROM (SELECT r.slot_id FROM tracelink.records r
                             WHERE (r.data ->> 'event_id') = id AND r.data ? 'event_id' OFFSET 0) x
                WHERE x.slot_id = ANY (slots)) THEN
            duplicates := duplicates + 1;
            CONTINUE;
        END IF;
        seen := array_append(seen, id);
        -- targets looked up once per (bizStep, readPoint, bizLocation) of the import
        tkey := jsonb_build_array(ev -> 'bizStep', ev #> '{readPoint,id}', ev #> '{bizLocation,id}')::text;
        IF NOT targets ? tkey THEN
            SELECT t.process, t.stage, t.form INTO tp, ts, tf
              FROM tracelink._epcis_target(lid, tracelink._epcis_bare(ev ->> 'bizStep'),
                                           ev #>> '{readPoint,id}', ev #>> '{bizLocation,id}') t;
            targets := targets || jsonb_build_object(tkey, jsonb_build_array(tp, ts, tf));
        END IF;
        tp := targets -> tkey ->> 0;
        ts := targets -> tkey ->> 1;
        tf := targets -> tkey ->> 2;
        IF tp IS NULL THEN
            RAISE EXCEPTION 'EPCIS document refused: event % at %.bizStep: no mapping and no EPCIS form (text items "event_id" and "event") in the active version of link "%"',
                            idx, path, link
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing of the document was imported.';
        END IF;
        recs := tracelink._epcis_records(ev, id, tp, ts, tf);
        IF recs IS NULL THEN
            RAISE EXCEPTION 'EPCIS document refused: event % at %: the event names no EPC, class or readPoint to record it under',
                            idx, path
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing of the document was imported.';
        END IF;
        FOR one IN SELECT jsonb_array_elements(recs) LOOP
            batch := array_append(batch, one);
            batch_events := array_append(batch_events, idx);
        END LOOP;
        imported := imported + 1;
        -- events of earlier chunks are found in tracelink.records; "seen"
        -- holds the current chunk's only
        IF cardinality(batch) >= chunk THEN
            records := records + tracelink._epcis_flush(link, batch, batch_events, list_path);
            batch := '{}';
            batch_events := '{}';
            seen := '{}';
            slots := ARRAY(SELECT s.slot_id FROM tracelink.record_slots s WHERE s.link_id = lid);
        END IF;
    END LOOP;
    IF cardinality(batch) > 0 THEN
        records := records + tracelink._epcis_flush(link, batch, batch_events, list_path);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_import(jsonb, jsonb, text, text, integer) IS
    'imports a JSON array of EPCIS events (context: the document''s @context, given to events without their own) into a link; shared by import_epcis() and import_epcis_staged()';

CREATE FUNCTION tracelink.import_epcis(doc jsonb, link text,
    OUT events integer, OUT imported integer, OUT duplicates integer, OUT records integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    list_path text;
    list jsonb;
    p record;
    i integer;
BEGIN
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'EPCIS document refused: a document is a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF doc ->> 'type' = 'EPCISDocument' THEN
        list_path := '$.epcisBody.eventList';
        list := doc #> '{epcisBody,eventList}';
    ELSIF doc ->> 'type' = 'EPCISQueryDocument' THEN
        list_path := '$.epcisBody.queryResults.resultsBody.eventList';
        list := doc #> '{epcisBody,queryResults,resultsBody,eventList}';
    ELSE
        RAISE EXCEPTION 'EPCIS document refused at $.type: not "EPCISDocument" or "EPCISQueryDocument"'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (doc ->> 'schemaVersion') IS DISTINCT FROM '2.0' THEN
        RAISE EXCEPTION 'EPCIS document refused at $.schemaVersion: only "2.0" is supported'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(list) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'EPCIS document refused at %: the event list is missing or not an array', list_path
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the GS1 JSON schema, when the operator has loaded it (docs/epcis.md)
    IF EXISTS (SELECT FROM tracelink.epcis_schema) THEN
        SELECT sp.path, sp.problem INTO p FROM tracelink.epcis_schema_problems(doc, 1) sp;
        IF p.path IS NOT NULL THEN
            i := substring(p.path FROM 'eventList\[([0-9]+)\]')::integer;
            IF i IS NULL THEN
                RAISE EXCEPTION 'EPCIS document refused at %: %', p.path, p.problem
                    USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The document does not satisfy the GS1 EPCIS JSON schema.';
            END IF;
            RAISE EXCEPTION 'EPCIS document refused: event % at %: %', i, p.path, p.problem
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The document does not satisfy the GS1 EPCIS JSON schema; nothing of it was imported.';
        END IF;
    END IF;
    SELECT * INTO events, imported, duplicates, records
      FROM tracelink._epcis_import(list, doc -> '@context', link, list_path, 0);
END
$$;
COMMENT ON FUNCTION tracelink.import_epcis(jsonb, text) IS
    'imports an EPCIS 2.0 document''s events as trace records of the link in this transaction (docs/epcis.md); an event already imported (same event hash ID) is skipped; any refusal refuses the whole document with the event''s index and JSON path';

CREATE FUNCTION tracelink.import_epcis_staged(link text, context jsonb DEFAULT NULL,
    OUT events integer, OUT imported integer, OUT duplicates integer, OUT records integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_id bigint;
    last_id bigint;
    from_id bigint;
    part record;
    step integer := 10000;
BEGIN
    LOCK TABLE tracelink.epcis_staging IN SHARE ROW EXCLUSIVE MODE;
    SELECT min(id), max(id) INTO first_id, last_id FROM tracelink.epcis_staging;
    events := 0;
    imported := 0;
    duplicates := 0;
    records := 0;
    from_id := first_id;
    WHILE from_id <= last_id LOOP
        SELECT * INTO part FROM tracelink._epcis_import(
            (SELECT jsonb_agg(s.event ORDER BY s.id) FROM tracelink.epcis_staging s
              WHERE s.id >= from_id AND s.id < from_id + step),
            context, link, 'tracelink.epcis_staging', events) p
         WHERE EXISTS (SELECT FROM tracelink.epcis_staging s WHERE s.id >= from_id AND s.id < from_id + step);
        IF FOUND THEN
            events := events + part.events;
            imported := imported + part.imported;
            duplicates := duplicates + part.duplicates;
            records := records + part.records;
        END IF;
        from_id := from_id + step;
    END LOOP;
    DELETE FROM tracelink.epcis_staging s WHERE s.id <= last_id;
END
$$;
COMMENT ON FUNCTION tracelink.import_epcis_staged(text, jsonb) IS
    'imports the events of tracelink.epcis_staging (in id order, 10000 at a time, all in this transaction; context: the document''s @context) and removes them; any refusal refuses all and leaves them staged (events are numbered from 0 in id order)';

-- Query views

CREATE INDEX records_epcis_event_id ON tracelink.records ((data ->> 'event_id')) WHERE data ? 'event_id';
CREATE INDEX records_epcis_biz_step ON tracelink.records (tracelink._epcis_bare((data ->> 'event')::jsonb ->> 'bizStep'))
    WHERE data ? 'event';
CREATE INDEX records_epcis_disposition ON tracelink.records (tracelink._epcis_bare((data ->> 'event')::jsonb ->> 'disposition'))
    WHERE data ? 'event';
CREATE INDEX records_epcis_read_point ON tracelink.records (((data ->> 'event')::jsonb #>> '{readPoint,id}'))
    WHERE data ? 'event';
CREATE INDEX records_epcis_biz_location ON tracelink.records (((data ->> 'event')::jsonb #>> '{bizLocation,id}'))
    WHERE data ? 'event';

CREATE VIEW tracelink.epcis_imported_events AS
SELECT r.data ->> 'event_id' AS event_id, l.name AS link, (r.data ->> 'event')::jsonb AS event,
       ((r.data ->> 'event')::jsonb ->> 'type') AS event_type,
       tracelink._epcis_bare((r.data ->> 'event')::jsonb ->> 'bizStep') AS biz_step,
       tracelink._epcis_bare((r.data ->> 'event')::jsonb ->> 'disposition') AS disposition,
       ((r.data ->> 'event')::jsonb #>> '{readPoint,id}') AS read_point,
       ((r.data ->> 'event')::jsonb #>> '{bizLocation,id}') AS biz_location,
       r.occurred_at AS event_time, s.origin AS node, r.recorded_at, r.entry_hash, r.position,
       EXISTS (SELECT FROM tracelink.records r2 JOIN tracelink.record_slots s2 ON s2.slot_id = r2.slot_id
                WHERE (r2.data ->> 'event_id') = (r.data ->> 'event_id') AND r2.data ? 'event_id' AND r2.data ? 'event'
                  AND s2.link_id = s.link_id
                  AND (r2.recorded_at, r2.entry_hash, r2.position) < (r.recorded_at, r.entry_hash, r.position)) AS duplicate,
       s.link_id
  FROM tracelink.records r
  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
  JOIN tracelink.trace_links l ON l.link_id = s.link_id
 WHERE r.data ? 'event' AND r.data ? 'event_id';
COMMENT ON VIEW tracelink.epcis_imported_events IS
    'every imported EPCIS event as its records hold it; an event imported on several nodes is kept by the lowest-ranked record (recorded_at, entry_hash, position): the others have duplicate = true';

CREATE VIEW tracelink.epcis_event_index AS
SELECT c.code AS epc, e.event_type, e.biz_step, e.disposition, e.read_point, e.biz_location, e.event_time,
       e.event_id, e.entry_hash, e.position, e.link, e.node, e.link_id
  FROM tracelink.epcis_imported_events e
  JOIN tracelink.records r ON (r.data ->> 'event_id') = e.event_id AND r.data ? 'event_id'
  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id AND s.link_id = e.link_id AND s.origin = e.node
  JOIN tracelink.codes c ON c.code_id = r.code_id
 WHERE NOT e.duplicate;
COMMENT ON VIEW tracelink.epcis_event_index IS
    'one row per EPC of every imported EPCIS event (duplicates left out): epc, event_type, biz_step, disposition, read_point, biz_location, event_time, event_id and where the event is on the ledger (entry_hash, position)';

-- Export

CREATE FUNCTION tracelink._epcis_ledger(node text, entry_hash bytea, "position" integer, link text,
                                       recorded_at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object('origin', $1, 'entryHash', encode($2, 'hex'), 'position', $3, 'link', $4,
                          'recordedAt', tracelink._utc($5),
                          'block', (SELECT e.tx FROM tracelink.ledger_entries e
                                     WHERE e.entry_hash = $2 AND e.origin = $1 LIMIT 1))
$$;
COMMENT ON FUNCTION tracelink._epcis_ledger(text, bytea, integer, text, timestamptz) IS
    'the ledger facts of a record for the "tl:ledger" field of an exported event: origin node, entry hash, position, link, recording time, block (the origin''s tx); record_proof(entry_hash, position) proves it';

CREATE FUNCTION tracelink._epcis_out(event jsonb, event_id text, ledger jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT ($1 - 'eventID') || jsonb_build_object('eventID', $2, 'tl:ledger',
          $3 || CASE WHEN $1 ? 'eventID' AND ($1 ->> 'eventID') <> $2
                     THEN jsonb_build_object('sourceEventID', $1 -> 'eventID') ELSE '{}' END)
$$;
COMMENT ON FUNCTION tracelink._epcis_out(jsonb, text, jsonb) IS
    'an event as exported: eventID = its event hash ID, the ledger facts (and an imported event''s own eventID, when it was not the hash) under "tl:ledger"';

CREATE FUNCTION tracelink._epcis_code_uri(code text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN $1 ~ '^[A-Za-z][A-Za-z0-9+.-]*:[^ ]+$' THEN $1
            ELSE 'urn:tracelink:code:' || replace(replace(replace($1, '%', '%25'), ' ', '%20'), '"', '%22') END
$$;
COMMENT ON FUNCTION tracelink._epcis_code_uri(text) IS
    'a trace code as an EPC URI: itself when it is a URI, else urn:tracelink:code: and the code (%, space and " percent-encoded)';

CREATE FUNCTION tracelink._epcis_record_event(code_id bigint, entry_hash bytea, "position" integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    ev jsonb;
BEGIN
    SELECT r0.data, r0.occurred_at, r0.recorded_at, s.origin, s.link_id, s.process, s.stage, s.form, l.name AS link,
           c.code
      INTO r
      FROM tracelink.records r0
      JOIN tracelink.record_slots s ON s.slot_id = r0.slot_id
      JOIN tracelink.trace_links l ON l.link_id = s.link_id
      JOIN tracelink.codes c ON c.code_id = r0.code_id
     WHERE r0.code_id = $1 AND r0.entry_hash = $2 AND r0.position = $3;
    IF r.data ? 'event_id' THEN
        SELECT tracelink._epcis_out(e.event, e.event_id,
                                    tracelink._epcis_ledger(e.node, e.entry_hash, e.position, e.link, e.recorded_at))
          INTO ev
          FROM tracelink.epcis_imported_events e
         WHERE e.event_id = (r.data ->> 'event_id') AND e.link_id = r.link_id AND NOT e.duplicate;
        RETURN ev;
    END IF;
    ev := jsonb_build_object(
        'type', 'ObjectEvent',
        'eventTime', tracelink._utc(r.occurred_at),
        'eventTimeZoneOffset', '+00:00',
        'epcList', jsonb_build_array(tracelink._epcis_code_uri(r.code)),
        'action', 'OBSERVE',
        'tl:record', jsonb_build_object(
            'code', r.code, 'process', r.process, 'stage', r.stage, 'form', r.form, 'data', r.data,
            'inputs', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('code', p.code, 'quantity', t.quantity, 'unit', t.unit))
                                                ORDER BY p.code), '[]')
                         FROM tracelink.transformations t JOIN tracelink.codes p ON p.code_id = t.parent_id
                        WHERE t.child_id = $1 AND t.entry_hash = $2 AND t.position = $3),
            'outputs', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('code', ch.code, 'quantity', t.quantity, 'unit', t.unit))
                                                 ORDER BY ch.code), '[]')
                          FROM tracelink.transformations t JOIN tracelink.codes ch ON ch.code_id = t.child_id
                         WHERE t.parent_id = $1 AND t.entry_hash = $2 AND t.position = $3)));
    RETURN tracelink._epcis_out(ev, tracelink.epcis_event_hash(ev),
                                tracelink._epcis_ledger(r.origin, $2, $3, r.link, r.recorded_at));
END
$$;
COMMENT ON FUNCTION tracelink._epcis_record_event(bigint, bytea, integer) IS
    'the exported event of one record: its imported event (the kept copy), else an ObjectEvent of the code with the record under "tl:record"';

CREATE FUNCTION tracelink._epcis_document(events jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    '@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
                                  jsonb_build_object('tl', 'urn:tracelink:epcis:')),
    'type', 'EPCISDocument',
    'schemaVersion', '2.0',
    'creationDate', coalesce((SELECT max(e #>> '{tl:ledger,recordedAt}') FROM jsonb_array_elements($1) e),
                             '1970-01-01T00:00:00.000000Z'),
    'epcisBody', jsonb_build_object('eventList', $1))
$$;
COMMENT ON FUNCTION tracelink._epcis_document(jsonb) IS
    'an EPCIS 2.0 document of exported events; creationDate is the latest recording time among them, so that every node makes the same document';

CREATE FUNCTION tracelink.epcis_document(code text, link text DEFAULT NULL) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT tracelink._epcis_document(coalesce(jsonb_agg(x.ev ORDER BY x.ev ->> 'eventTime', x.ev ->> 'eventID'), '[]'))
  FROM (SELECT DISTINCT tracelink._epcis_record_event(c.code_id, t.entry_hash, t.position) AS ev
          FROM tracelink.trace($1, $2) t
          JOIN tracelink.codes c ON c.code = t.code
          JOIN tracelink.trace_links l ON l.link_id = c.link_id AND l.name = t.link) x
$$;
COMMENT ON FUNCTION tracelink.epcis_document(text, text) IS
    'the provenance of a trace code (tracelink.trace) as an EPCIS 2.0 JSON-LD document: each event once, eventID its event hash ID, ledger facts under "tl:ledger"';

CREATE FUNCTION tracelink.epcis_query(params jsonb DEFAULT '{}')
    RETURNS TABLE (event_id text, event_time timestamptz, event jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    known text[] := ARRAY['link', 'MATCH_epc', 'EQ_bizStep', 'EQ_disposition', 'EQ_readPoint', 'EQ_bizLocation',
                          'GE_eventTime', 'LT_eventTime', 'eventType'];
    lists text[] := ARRAY['MATCH_epc', 'EQ_bizStep', 'EQ_disposition', 'EQ_readPoint', 'EQ_bizLocation', 'eventType'];
    v jsonb;
    vals text[];
    ids text[];
    steps text[];
    disps text[];
    rps text[];
    bls text[];
    types text[];
    lid bytea;
    conds text := '';
BEGIN
    IF jsonb_typeof(params) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'EPCIS query parameters are a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(params) LOOP
        IF NOT k = ANY (known) THEN
            RAISE EXCEPTION 'unsupported EPCIS query parameter "%"', k
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Supported: ' || array_to_string(known, ', ') || '.';
        END IF;
        IF k = ANY (lists) THEN
            IF jsonb_typeof(v) = 'string' THEN
                v := jsonb_build_array(v);
            END IF;
            IF jsonb_typeof(v) IS DISTINCT FROM 'array'
               OR EXISTS (SELECT FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string') THEN
                RAISE EXCEPTION 'EPCIS query parameter "%" is a string or an array of strings', k
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            vals := ARRAY(SELECT jsonb_array_elements_text(v));
            CASE k
                WHEN 'MATCH_epc' THEN
                    -- the events naming these codes, through the trace-code index
                    ids := ARRAY(SELECT DISTINCT i.event_id FROM tracelink.epcis_event_index i WHERE i.epc = ANY (vals));
                    conds := conds || ' AND e.event_id = ANY ($1)';
                WHEN 'EQ_bizStep' THEN
                    steps := ARRAY(SELECT tracelink._epcis_bare(x) FROM unnest(vals) x);
                    conds := conds || ' AND e.biz_step = ANY ($2)';
                WHEN 'EQ_disposition' THEN
                    disps := ARRAY(SELECT tracelink._epcis_bare(x) FROM unnest(vals) x);
                    conds := conds || ' AND e.disposition = ANY ($3)';
                WHEN 'EQ_readPoint' THEN
                    rps := vals;
                    conds := conds || ' AND e.read_point = ANY ($4)';
                WHEN 'EQ_bizLocation' THEN
                    bls := vals;
                    conds := conds || ' AND e.biz_location = ANY ($5)';
                ELSE
                    types := vals;
                    conds := conds || ' AND e.event_type = ANY ($6)';
            END CASE;
        END IF;
    END LOOP;
    IF params ? 'link' THEN
        lid := tracelink._epcis_link(params ->> 'link');
        conds := conds || ' AND e.link_id = $7';
    END IF;
    IF params ? 'GE_eventTime' THEN
        conds := conds || ' AND e.event_time >= $8';
    END IF;
    IF params ? 'LT_eventTime' THEN
        conds := conds || ' AND e.event_time < $9';
    END IF;
    -- only the conditions given, so that the planner uses their indexes
    RETURN QUERY EXECUTE
        'SELECT e.event_id, e.event_time,
                tracelink._epcis_out(e.event, e.event_id,
                                     tracelink._epcis_ledger(e.node, e.entry_hash, e.position, e.link, e.recorded_at))
           FROM tracelink.epcis_imported_events e
          WHERE NOT e.duplicate' || conds || '
          ORDER BY e.event_time, e.event_id'
        USING ids, steps, disps, rps, bls, types, lid,
              (params ->> 'GE_eventTime')::timestamptz, (params ->> 'LT_eventTime')::timestamptz;
END
$$;
COMMENT ON FUNCTION tracelink.epcis_query(jsonb) IS
    'imported EPCIS events (duplicates left out) matching EPCIS query parameters: link, MATCH_epc (any EPC of the event), EQ_bizStep, EQ_disposition, EQ_readPoint, EQ_bizLocation, eventType (a string or an array), GE_eventTime, LT_eventTime; as exported, by event time';

CREATE FUNCTION tracelink.epcis_events(params jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT tracelink._epcis_document(coalesce(jsonb_agg(q.event ORDER BY q.event_time, q.event_id), '[]'))
  FROM tracelink.epcis_query($1) q
$$;
COMMENT ON FUNCTION tracelink.epcis_events(jsonb) IS
    'the imported EPCIS events matching tracelink.epcis_query(params) as one EPCIS 2.0 JSON-LD document';

-- Privileges

GRANT SELECT ON tracelink.epcis_mapping, tracelink.epcis_imported_events, tracelink.epcis_event_index
    TO tracelink_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON tracelink.epcis_mapping TO tracelink_admin;
GRANT SELECT, INSERT, DELETE ON tracelink.epcis_staging TO tracelink_member;
GRANT USAGE ON SEQUENCE tracelink.epcis_staging_id_seq TO tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink._epcis_link(text), tracelink._epcis_bare(text),
                 tracelink._epcis_ledger(text, bytea, integer, text, timestamptz),
                 tracelink._epcis_out(jsonb, text, jsonb), tracelink._epcis_code_uri(text),
                 tracelink._epcis_record_event(bigint, bytea, integer), tracelink._epcis_document(jsonb),
                 tracelink.epcis_document(text, text), tracelink.epcis_query(jsonb), tracelink.epcis_events(jsonb)
    TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink._epcis_forms(bytea), tracelink._epcis_target(bytea, text, text, text),
                 tracelink._epcis_list(jsonb, text, text),
                 tracelink._epcis_check(jsonb, text),
                 tracelink._epcis_records(jsonb, text, text, text, text),
                 tracelink._epcis_import(jsonb, jsonb, text, text, integer),
                 tracelink._epcis_flush(text, jsonb[], integer[], text),
                 tracelink.import_epcis(jsonb, text), tracelink.import_epcis_staged(text, jsonb)
    TO tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink.set_epcis_mapping(text, text, text, text, text, text, text),
                 tracelink.clear_epcis_mapping(text, text, text, text)
    TO tracelink_admin;
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
-- Convergence: one digest over the state every node of the group shares.
-- Each part is built next to its tables (_ledger_state in
-- 50_replication.sql, _workflow_state in 60_workflow.sql, _trace_state in
-- 70_trace.sql); node-local tables (keys, peers, quarantine, inbox,
-- templates) are left out.

CREATE FUNCTION tracelink.state_digest() RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT tracelink.digest(tracelink._ledger_state() || tracelink._workflow_state()
                        || jsonb_build_object('trace', tracelink._trace_state()))
$$;
COMMENT ON FUNCTION tracelink.state_digest() IS
    'SHA-256 of the canonical projected state shared by the group (ledger heads and keys, workflow, trace data); nodes holding the same entries have the same digest';

GRANT EXECUTE ON FUNCTION tracelink.state_digest() TO tracelink_reader;
-- Backups: what pg_dump keeps, and finishing a restore.
--
-- Every table and sequence of node state is an extension configuration
-- object, so that pg_dump dumps its rows (and a sequence its value) and a
-- restore brings the node back whole.  docs/operations.md ("Checking and
-- backups") gives the procedure and the decisions; a regress test checks
-- that no table or sequence of the schema is left out.

-- The ledger and the node's identity: ledger_tx_seq must come back too, or
-- the next transaction would reuse a restored block's number (origin, tx).
SELECT pg_catalog.pg_extension_config_dump('tracelink.nodes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_entries', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_heads', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_tx_seq', '');

-- Replication: rows from peers that wait (their peers will not send them
-- again), the evidence of refused rows, and how to reach each peer.  The
-- connection strings are dumped like pg_subscription's are: keep passwords
-- out of them (a passfile), and protect backups.
SELECT pg_catalog.pg_extension_config_dump('tracelink.inbox_entries', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.inbox_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.apply_queue', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.equivocations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.peer_connections', '');
-- witnessing (sqlsrc/45_witness.sql): heads kept to check later, and what
-- is still to be witnessed
SELECT pg_catalog.pg_extension_config_dump('tracelink.witness_state', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.witness_pending', '');

-- Projected workflow state (without foreign keys between them:
-- sqlsrc/60_workflow.sql).
SELECT pg_catalog.pg_extension_config_dump('tracelink.trace_links', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_invitations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_processes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.proposals', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ballots', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_version_history', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.modifications', '');

-- Projected trace data, with the sequences of its local surrogate keys.
SELECT pg_catalog.pg_extension_config_dump('tracelink.codes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.code_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_slots', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.slot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.records', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.transformations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.private_values', '');

-- Off-chain files (sqlsrc/75_blobs.sql).
SELECT pg_catalog.pg_extension_config_dump('tracelink.blobs', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.blob_chunks', '');

-- Rows staged for recording (unlogged: empty after a crash, by design).
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_staging', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_staging_id_seq', '');

-- What foreign keys would check, if pg_restore -j allowed them between an
-- extension's tables (sqlsrc/60_workflow.sql): rows of the projections
-- that refer to rows missing from another.  A restore that lost a table's
-- rows shows here; tracelink writes them consistently.
CREATE FUNCTION tracelink._dangling_references()
    RETURNS TABLE (referencing text, referenced text, rows bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT v.referencing, v.referenced, v.rows FROM (VALUES
    ('link_invitations.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_invitations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('link_processes.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_processes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('proposals.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.proposals c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('ballots.proposal_id', 'proposals',
     (SELECT count(*) FROM tracelink.ballots c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.proposal_id = c.proposal_id))),
    ('link_version_history.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_version_history c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('link_version_history.proposal_id', 'proposals',
     (SELECT count(*) FROM tracelink.link_version_history c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.proposal_id = c.proposal_id))),
    ('modifications.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.modifications c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('codes.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.codes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('codes.bind_slot', 'record_slots',
     (SELECT count(*) FROM tracelink.codes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.record_slots p WHERE p.slot_id = c.bind_slot))),
    ('records.code_id', 'codes',
     (SELECT count(*) FROM tracelink.records c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.code_id))),
    ('records.slot_id', 'record_slots',
     (SELECT count(*) FROM tracelink.records c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.record_slots p WHERE p.slot_id = c.slot_id))),
    ('transformations.parent_id', 'codes',
     (SELECT count(*) FROM tracelink.transformations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.parent_id))),
    ('transformations.child_id', 'codes',
     (SELECT count(*) FROM tracelink.transformations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.child_id))),
    ('peer_connections.name', 'nodes',
     (SELECT count(*) FROM tracelink.peer_connections c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.nodes p WHERE p.name = c.name)))
) AS v(referencing, referenced, rows)
WHERE v.rows > 0
$$;
COMMENT ON FUNCTION tracelink._dangling_references() IS
    'rows of tracelink''s tables that refer to rows missing from another (what foreign keys would refuse): empty unless a restore lost rows';

-- Finishing a restore.  Rows written into an empty ledger table by its
-- owner in one statement (the COPY of a dump) are kept once each is checked
-- on its own (src/restore.c); the first of each statement records a hold
-- here, and while one is here the node signs nothing.  finish_restore()
-- checks what single rows cannot show and removes the holds.  Each restore
-- records its own hold, so the table is never dumped (the condition is
-- false: registered, so that the check that every table is registered
-- holds, and empty in every dump).
CREATE TABLE tracelink.restore_holds (
    held_since    timestamptz NOT NULL,
    ledger_table  text NOT NULL,
    restored_by   text NOT NULL
);
COMMENT ON TABLE tracelink.restore_holds IS
    'ledger tables restored from a dump since the last tracelink.finish_restore(): while a row is here the node does not sign (never dumped)';
COMMENT ON COLUMN tracelink.restore_holds.held_since IS 'when the restoring statement began';
COMMENT ON COLUMN tracelink.restore_holds.ledger_table IS 'the ledger table the statement restored';
COMMENT ON COLUMN tracelink.restore_holds.restored_by IS 'the role that restored it';
SELECT pg_catalog.pg_extension_config_dump('tracelink.restore_holds', 'WHERE false');
REVOKE ALL ON tracelink.restore_holds FROM PUBLIC;
GRANT SELECT ON tracelink.restore_holds TO tracelink_reader;

CREATE FUNCTION tracelink._check_signing_key() RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_check_signing_key'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink._check_signing_key() IS
    'signs a test message with this node''s key file and checks it against the key its ledger head names; returns that key, or raises what signing a block would';

-- A procedure (slots are created in transactions that have written
-- nothing), so without a SET clause: it pins search_path itself after each
-- COMMIT, and names everything with its schema.
CREATE PROCEDURE tracelink.finish_restore()
    LANGUAGE plpgsql
AS $$
DECLARE
    me text;
    bad record;
    p record;
    head record;
    sub text;
    slot text;
    held bigint;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    me := tracelink.node_name();
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'tracelink.nodes has no row for the local node.',
                  HINT = 'Restore the whole dump, tracelink.nodes included.';
    END IF;
    SELECT pg_catalog.count(*) INTO held FROM tracelink.restore_holds;

    -- 1. every chain verifies: links, keys, heads, entries sealed
    SELECT v.origin, v.first_bad, v.reason INTO bad FROM tracelink.verify() v WHERE NOT v.ok LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the restored ledger does not verify'
            USING ERRCODE = 'data_corrupted',
                  DETAIL = pg_catalog.format('Origin "%s", %s: %s.', bad.origin, bad.first_bad, bad.reason),
                  HINT = 'The node stays held (it does not sign): restore from another dump.';
    END IF;
    -- ... and no table lost rows another one refers to
    SELECT d.referencing, d.referenced, d.rows INTO bad FROM tracelink._dangling_references() d LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the restored state is incomplete'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = pg_catalog.format('%s rows of %s refer to rows missing from %s.', bad.rows, bad.referencing, bad.referenced),
                  HINT = 'The node stays held (it does not sign): restore the whole dump into an empty database again.';
    END IF;
    -- 2. the key file signs with the key the chain names
    PERFORM tracelink._check_signing_key();

    -- 3. for each peer: its login, and this node's publication for it
    --    (pg_dump keeps the publication but not its tables: they are the
    --    extension's)
    FOR p IN SELECT c.name FROM tracelink.peer_connections c ORDER BY c.name LOOP
        PERFORM tracelink._make_peer_login(p.name);
        PERFORM tracelink._publish_for_peer(p.name);
    END LOOP;
    COMMIT;

    -- 4. the slots peers stream from (not dumped): created before the hold
    --    is lifted, so each holds every block this node signs from now on
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR p IN SELECT c.name FROM tracelink.peer_connections c ORDER BY c.name LOOP
        slot := tracelink.peer_slot_name(me, p.name);
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = slot) THEN
            PERFORM pg_catalog.pg_create_logical_replication_slot(slot, 'pgoutput');
        END IF;
    END LOOP;
    COMMIT;

    -- 5. subscriptions to the peers, going on from where each peer's slot
    --    for this node stands: no copy (every row this node holds would be
    --    quarantined as replayed).  pg_dump restores a subscription disabled
    --    and without its tables: it is made again.
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR p IN SELECT c.name, c.conninfo FROM tracelink.peer_connections c ORDER BY c.name LOOP
        sub := tracelink.peer_subscription_name(p.name);
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s
                     JOIN pg_catalog.pg_subscription_rel r ON r.srsubid = s.oid
                    WHERE s.subname = sub
                      AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname = pg_catalog.current_database())) THEN
            RAISE NOTICE 'peer "%": subscribed', p.name;
            CONTINUE;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s
                    WHERE s.subname = sub
                      AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname = pg_catalog.current_database())) THEN
            EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I DISABLE', sub);
            EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
            EXECUTE pg_catalog.format('DROP SUBSCRIPTION %I', sub);
        END IF;
        BEGIN
            EXECUTE pg_catalog.format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I '
                           'WITH (create_slot = false, slot_name = %L, copy_data = false)',
                           sub, p.conninfo, tracelink.peer_publication_name(me),
                           tracelink.peer_slot_name(p.name, me));
            RAISE NOTICE 'peer "%": subscribed', p.name;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'peer "%": unreachable: %', p.name, SQLERRM
                USING HINT = 'Run CALL tracelink.finish_restore(); again once it is reachable (not connect_peers(), which copies the peer''s rows again).';
        END;
    END LOOP;

    -- 6. the node signs again
    TRUNCATE tracelink.restore_holds;
    SELECT h.block_no INTO head FROM tracelink.ledger_heads h WHERE h.origin = me;
    IF held = 0 THEN
        RAISE NOTICE 'node "%" was not held by a restore; its chain ends at block %', me, head.block_no;
    ELSE
        RAISE NOTICE 'node "%" signs again; its chain ends at block %', me, head.block_no
            USING HINT = pg_catalog.format('On each peer, run CALL tracelink.repoint_peer(%L, ''<connection string to this node>'');', me);
    END IF;
    COMMIT;
END
$$;
COMMENT ON PROCEDURE tracelink.finish_restore() IS
    'after a restore from a dump: verifies every chain and the node key, re-creates the peer logins, this node''s publications and slots and its subscriptions to its peers (without copying what it holds), and lets the node sign again';

-- On a peer of a restored node: its subscription to that node, started
-- again on the node's new slot.  Dropped and created, not altered: the
-- subscription's replication origin remembers a position in the old
-- cluster's WAL, and a walsender skips every transaction before the
-- position a subscriber asks for.  No copy: the rows it holds would be
-- quarantined as replayed.
CREATE PROCEDURE tracelink.repoint_peer(name text, conninfo text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    peer text := repoint_peer.name;
    sub text := tracelink.peer_subscription_name(repoint_peer.name);
    head bigint;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tracelink.peer_connections c WHERE c.name = peer) THEN
        RAISE EXCEPTION 'unknown peer "%"', peer USING ERRCODE = 'undefined_object';
    END IF;
    IF repoint_peer.conninfo IS NULL OR repoint_peer.conninfo = '' THEN
        RAISE EXCEPTION 'a connection string for peer "%" is required', peer
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE tracelink.peer_connections c SET conninfo = repoint_peer.conninfo WHERE c.name = peer;
    IF EXISTS (SELECT 1 FROM pg_subscription s WHERE s.subname = sub
                  AND s.subdbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())) THEN
        EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', sub);
        EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
        EXECUTE format('DROP SUBSCRIPTION %I', sub);
    END IF;
    EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I '
                   'WITH (create_slot = false, slot_name = %L, copy_data = false)',
                   sub, repoint_peer.conninfo, tracelink.peer_publication_name(me),
                   tracelink.peer_slot_name(peer, me));
    SELECT h.block_no INTO head FROM tracelink.ledger_heads h WHERE h.origin = peer;
    RAISE NOTICE 'subscribed to peer "%" again; this node holds its chain up to block %', peer, coalesce(head, -1)
        USING HINT = 'Blocks the peer lacks or this node lacks: see tracelink.sync_status and tracelink.export_for_peer().';
END
$$;
COMMENT ON PROCEDURE tracelink.repoint_peer(text, text) IS
    'on a peer of a node restored elsewhere: sets the node''s new connection string and subscribes to it again from its new slot, without copying the rows already held';

-- This node's own chain as a peer receives it (entries addressed to others
-- left out), between two blocks: the lines tracelink.ingest() on that peer
-- applies, to fill a gap left by a restore.
CREATE FUNCTION tracelink.export_for_peer(peer text, from_block bigint, to_block bigint DEFAULT NULL)
    RETURNS SETOF text
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    line text;
    j jsonb;
    entries text[] := '{}';
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tracelink.nodes n WHERE n.name = peer AND NOT n.is_local) THEN
        RAISE EXCEPTION 'unknown peer "%"', peer USING ERRCODE = 'undefined_object';
    END IF;
    -- a block's entry lines come before its block line: they are held
    -- until the block line says whether the block is in range
    FOR line IN SELECT e FROM tracelink.export(me, from_block) e LOOP
        j := line::jsonb;
        IF j ->> 'type' = 'entry' THEN
            IF jsonb_typeof(j -> 'audience') = 'null' OR j -> 'audience' ? peer THEN
                entries := entries || line;
            END IF;
        ELSIF j ->> 'type' = 'block' THEN
            EXIT WHEN to_block IS NOT NULL AND (j ->> 'block_no')::bigint > to_block;
            RETURN QUERY SELECT unnest(entries);
            RETURN NEXT line;
            entries := '{}';
        ELSE
            RETURN NEXT line;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tracelink.export_for_peer(text, bigint, bigint) IS
    'this node''s chain from from_block to to_block (default: the last) in the export format, without the entries not addressed to peer: what tracelink.ingest() on that peer takes to fill a gap';
GRANT EXECUTE ON FUNCTION tracelink.export_for_peer(text, bigint, bigint) TO tracelink_reader;
-- Nothing is executable by PUBLIC: the grants above go to tracelink's roles.
-- (ALL FUNCTIONS leaves procedures out: add_peer and remove_peer are
-- procedures, for superusers only.)
REVOKE ALL ON ALL ROUTINES IN SCHEMA tracelink FROM PUBLIC;
