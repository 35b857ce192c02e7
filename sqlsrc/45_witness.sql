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
