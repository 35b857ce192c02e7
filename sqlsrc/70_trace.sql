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
-- lookups by code through the views, which show it in the default collation
CREATE INDEX codes_code_default ON tracelink.codes (code COLLATE pg_catalog."default");
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
--
-- Codes and node names are stored COLLATE "C" (the same order on every
-- node); the views show them in the database's default collation, like
-- every other text column, so that a user's own queries over them (a
-- recursive CTE started from a literal, a join with their tables) mix
-- without collation errors.  codes_code_default serves lookups by code
-- through them.

CREATE VIEW tracelink.trace_codes AS
SELECT c.code COLLATE pg_catalog."default" AS code, l.name AS link, c.version, s.process AS first_process,
       s.origin COLLATE pg_catalog."default" AS first_node,
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
SELECT c.code COLLATE pg_catalog."default" AS code, l.name AS link, s.version, s.process, s.stage, s.form,
       CASE WHEN r.commitments IS NULL
                 OR NOT pg_catalog.has_table_privilege('tracelink.private_values', 'SELECT') THEN r.data
            ELSE r.data OPERATOR(pg_catalog.||) coalesce(
                     (SELECT pg_catalog.jsonb_object_agg(v.item, v.value)
                        FROM tracelink.private_values v
                       WHERE v.entry_hash OPERATOR(pg_catalog.=) r.entry_hash
                         AND v.position OPERATOR(pg_catalog.=) r.position),
                     '{}'::jsonb) END AS data, s.source,
       s.origin COLLATE pg_catalog."default" AS node, r.occurred_at, r.recorded_at, r.entry_hash, r.position,
       c.version AS bound_version, s.link_id, r.code_id, r.commitments
  FROM tracelink.records r
  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
  JOIN tracelink.trace_links l ON l.link_id = s.link_id
  JOIN tracelink.codes c ON c.code_id = r.code_id;
COMMENT ON VIEW tracelink.trace_records IS
    'every trace record: code, link, version, process, stage, form, values (private ones where this node holds them and the caller may read them), source, recording node, times, (entry_hash, position) to prove it with tracelink.record_proof(), and the commitments of its private values';

CREATE VIEW tracelink.trace_edges AS
SELECT p.code COLLATE pg_catalog."default" AS parent, ch.code COLLATE pg_catalog."default" AS child, l.name AS link, t.quantity, t.unit,
       t.direction, s.version, s.process, s.stage, s.form, s.origin COLLATE pg_catalog."default" AS node, t.occurred_at, t.recorded_at,
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
                   commitments jsonb, bound_version integer)
    AS 'MODULE_PATHNAME', 'tl_trace_bound'
    LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION tracelink.trace(text, text) IS
    'the whole provenance of a trace code: every record of it and of the codes upstream (depth < 0) and downstream (depth > 0) through transformations, with process, stage, form, values, source, node, times, version (the link version the record was made under), (entry_hash, position) for tracelink.record_proof(), the commitments of private values (whose values show where this node holds them and the caller may read them), and bound_version (the version the code is bound to, as in trace_records)';

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
    -- the code, then one line per record: process, node, version, time
    -- (UTC, to the second) and the signed block of the node that holds
    -- its entry (what record_proof() proves it against)
    SELECT pc.code_id,
           pc.code || coalesce((SELECT string_agg(E'\n' || s.process || ' · ' || s.origin || ' · v' || s.version
                                                  || ' · ' || pg_catalog.left(tracelink._utc(r.occurred_at), 19) || 'Z'
                                                  || ' · ' || coalesce('block ' || b.block_no || ' signed', 'not sealed'),
                                                  '' ORDER BY r.occurred_at, s.process, s.origin, r.entry_hash, r.position)
                                  FROM tracelink.records r
                                  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
                                  LEFT JOIN tracelink.ledger_entries e ON e.entry_hash = r.entry_hash
                                  LEFT JOIN tracelink.ledger_blocks b ON b.origin = e.origin AND b.tx = e.tx
                                 WHERE r.code_id = pc.code_id), '') AS label
      FROM pc
)
SELECT 'digraph provenance {' || E'\n'
    || '  rankdir=LR;' || E'\n'
    || '  node [shape=box, style=rounded, fontname="Helvetica"];' || E'\n'
    || '  edge [fontname="Helvetica", fontsize=10];' || E'\n'
    || '  labelloc=b; labeljust=l; fontname="Helvetica"; fontsize=10;' || E'\n'
    || '  label="Legend: a box per trace code (filled: the code asked about), then a line per record: process · node · link version · occurred at (UTC) · proof: block N signed (its entry is in'
    || ' that node''s signed block N; record_proof() proves it) or not sealed.\lArrows: inputs to outputs, labelled with the quantity.\l";'
    || E'\n'
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
    'the provenance graph of a trace code in Graphviz DOT: one box per code (the code asked about filled), a line per record in it (process, node, link version, time in UTC, the signed block holding its entry), one arrow per transformation labelled with its quantity, and a legend';

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
