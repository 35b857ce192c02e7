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
