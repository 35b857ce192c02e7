-- Hashes, signatures and Merkle proofs: SHA-256, Ed25519 (libsodium) and
-- RFC 6962 / RFC 9162 Merkle trees.  Functions that build raise on bad
-- input; the verify functions are not STRICT and answer false to anything
-- malformed, never an error.

CREATE FUNCTION tracelink.sha256_digest(data bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_sha256_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.sha256_digest(bytea) IS
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
    tracelink.sha256_digest(bytea),
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
