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
