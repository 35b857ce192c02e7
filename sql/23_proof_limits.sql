-- Sizes and indexes given to the proof functions are checked before
-- anything is read or allocated: huge, negative and out-of-range values
-- are clean errors with a specific SQLSTATE (22023, or 54000 for a proof
-- over more leaves than fit in memory), and the verifiers answer false.
-- Builds on the node "alpha" of 20_ledger; entry counts are masked, so
-- that this file does not depend on how many entries the tests before it
-- appended.
\set ECHO none
\i sql/include/node_alpha.sql
\set ECHO all
CREATE FUNCTION err_n(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(err(sql), 'has only \d+ entries', 'has only N entries'),
                          'new tree size \d+', 'new tree size N')
$$;
SELECT max(tree_size) AS size, min(entry_hash::text) AS first_hash
  FROM tracelink.ledger_blocks b JOIN tracelink.ledger_entries e USING (origin, tx)
 WHERE origin = 'alpha' \gset

-- tree_root: any size up to the tree's, nothing beyond, no allocation
SELECT err_n($$ SELECT tracelink.tree_root('alpha', 9223372036854775807) $$);
SELECT err_n($$ SELECT tracelink.tree_root('alpha', 4611686018427387904) $$);
SELECT err_n(format($$ SELECT tracelink.tree_root('alpha', %s) $$, :size + 1));
SELECT err_n($$ SELECT tracelink.tree_root('alpha', -1) $$);
SELECT err_n($$ SELECT tracelink.tree_root('alpha', -9223372036854775808) $$);
SELECT err_n($$ SELECT tracelink.tree_root('nobody', 1) $$);
SELECT tracelink.tree_root('nobody', 0) = sha256('') AS empty_tree_of_unknown_origin;
SELECT encode(tracelink.tree_root('alpha', :size), 'hex') = tracelink.signed_tree_head('alpha')->>'tree_root'
       AS whole_tree_is_the_signed_root;

-- signed tree heads exist only at block boundaries
SELECT err($$ SELECT tracelink.signed_tree_head('alpha', 9223372036854775807) $$);
SELECT err($$ SELECT tracelink.signed_tree_head('alpha', -9223372036854775808) $$);

-- inclusion proofs
SELECT err(format($$ SELECT tracelink.inclusion_proof(%L, 9223372036854775807) $$, :'first_hash'));
SELECT err(format($$ SELECT tracelink.inclusion_proof(%L, -1) $$, :'first_hash'));
SELECT err(format($$ SELECT tracelink.inclusion_proof(%L, 0) $$, :'first_hash'));

-- consistency proofs
SELECT err_n($$ SELECT tracelink.consistency_proof('alpha', 9223372036854775807) $$);
SELECT err_n($$ SELECT tracelink.consistency_proof('alpha', -9223372036854775808) $$);
SELECT err_n($$ SELECT tracelink.consistency_proof('alpha', 0) $$);
SELECT err($$ SELECT tracelink.consistency_proof('alpha', 1, 9223372036854775807) $$);
SELECT err($$ SELECT tracelink.consistency_proof('alpha', 9223372036854775807, 9223372036854775807) $$);
SELECT err($$ SELECT tracelink.consistency_proof('alpha', 1, -1) $$);

-- export: from_block past the head is a header only; negative is refused
SELECT count(*) AS lines, min(l::jsonb->>'type') AS only
  FROM tracelink.export('alpha', 9223372036854775807) l;
SELECT err($$ SELECT tracelink.export('alpha', -1) $$);
SELECT err($$ SELECT tracelink.export('alpha', -9223372036854775808) $$);

-- the SQL Merkle functions over leaf arrays
SELECT err($$ SELECT tracelink.merkle_inclusion_proof(ARRAY['\x01', '\x02']::bytea[], 9223372036854775807) $$);
SELECT err($$ SELECT tracelink.merkle_inclusion_proof(ARRAY['\x01', '\x02']::bytea[], -9223372036854775808) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof(ARRAY['\x01', '\x02']::bytea[], 9223372036854775807) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof(ARRAY['\x01', '\x02']::bytea[], -9223372036854775808) $$);
-- an index is checked before any leaf is hashed: a NULL leaf is not reached
SELECT err($$ SELECT tracelink.merkle_inclusion_proof(ARRAY[NULL, '\x02']::bytea[], 5) $$);
-- a proof holds every leaf hash in memory: more than 2^25 - 1 leaves are
-- refused before any is hashed or allocated; a root needs no such buffer
SELECT err($$ SELECT tracelink.merkle_inclusion_proof(array_fill('\x'::bytea, ARRAY[33554432]), 0) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof(array_fill('\x'::bytea, ARRAY[33554432]), 1) $$);
SELECT tracelink.merkle_root(array_fill('\x'::bytea, ARRAY[100000])) =
       tracelink.merkle_root(array_fill('\x'::bytea, ARRAY[100000])) AS root_of_many_leaves;

-- verifiers answer false to impossible sizes and indexes, never an error
SELECT tracelink.verify_inclusion(9223372036854775807, 9223372036854775807, sha256('x'), '{}', sha256('x')) AS max_index,
       tracelink.verify_inclusion(-1, 1, sha256('x'), '{}', sha256('x')) AS negative_index,
       tracelink.verify_inclusion(0, -9223372036854775808, sha256('x'), '{}', sha256('x')) AS negative_size,
       tracelink.verify_inclusion(0, 9223372036854775807, sha256('x'), '{}', sha256('x')) AS huge_tree_no_path,
       tracelink.verify_consistency(1, 9223372036854775807, sha256('x'), sha256('y'), ARRAY[sha256('z')]) AS huge_new_size,
       tracelink.verify_consistency(-1, 1, sha256('x'), sha256('x'), '{}') AS negative_old_size,
       tracelink.verify_consistency(9223372036854775807, 1, sha256('x'), sha256('x'), '{}') AS old_larger;
SELECT tracelink.verify_record_proof(jsonb_build_object('position', 99999999999999, 'leaf_index', 1e30,
                                                        'tree_size', 9223372036854775807), '\x00') AS record_proof_huge;

DROP FUNCTION err_n(text);
