-- Signed tree heads, inclusion and consistency proofs, export.
-- Builds on the node "alpha" created by 20_ledger.
\set ECHO none
\i sql/include/ledger_alpha.sql
\set ECHO all

-- a few more blocks of different sizes
SELECT count(tracelink.append('acme.scan', jsonb_build_object('batch', 1, 'i', g))) FROM generate_series(1, 7) g;
SELECT count(tracelink.append('acme.scan', jsonb_build_object('batch', 2, 'i', g))) FROM generate_series(1, 3) g;

-- every block is a signed tree head
SELECT count(*) AS blocks,
       bool_and(tracelink.verify_tree_head(tracelink.signed_tree_head('alpha', tree_size), signer_key)) AS all_heads_verify
  FROM tracelink.ledger_blocks WHERE origin = 'alpha';
SELECT (tracelink.signed_tree_head() ->> 'tree_size')::bigint = max(tree_size) AS latest_by_default
  FROM tracelink.ledger_blocks;
SELECT tracelink.signed_tree_head() ?& ARRAY['origin', 'block_no', 'tree_size', 'tree_root', 'block_hash', 'signature', 'signer_key', 'prev_hash', 'entries_root', 'entry_count', 'next_key', 'sealed_at', 'tx', 'type'] AS has_all_fields,
       NOT (tracelink.signed_tree_head() ? 'entry_hashes') AS no_entry_hashes;

-- tree_root agrees with merkle_root over the entry hashes in ordinal order
SELECT tracelink.tree_root('alpha', n) = (SELECT tracelink.merkle_root(array_agg(entry_hash ORDER BY ordinal))
                                            FROM tracelink.ledger WHERE origin = 'alpha' AND ordinal < n) AS same_root, n
  FROM (VALUES (1), (2), (5), (13), (17)) v(n);
SELECT tracelink.tree_root('alpha', 0) = sha256('') AS empty_tree;

-- a tree head's signature breaks when any field changes or the key is wrong
SELECT tracelink.signed_tree_head() AS sth \gset
SELECT tracelink.verify_tree_head(:'sth', tracelink.node_public_key()) AS genuine,
       tracelink.verify_tree_head(jsonb_set(:'sth', '{tree_size}', '1'), tracelink.node_public_key()) AS changed_size,
       tracelink.verify_tree_head(jsonb_set(:'sth', '{tree_root}', to_jsonb(encode(sha256('x'), 'hex'))), tracelink.node_public_key()) AS changed_root,
       tracelink.verify_tree_head(:'sth', tracelink.ed25519_public_key(sha256('other'))) AS other_key;
-- malformed tree heads are false, never errors
SELECT tracelink.verify_tree_head('{}', tracelink.node_public_key()) AS empty_object,
       tracelink.verify_tree_head('[]', tracelink.node_public_key()) AS an_array,
       tracelink.verify_tree_head('null', tracelink.node_public_key()) AS json_null,
       tracelink.verify_tree_head(NULL, tracelink.node_public_key()) AS sql_null,
       tracelink.verify_tree_head(:'sth', '\x00') AS short_key,
       tracelink.verify_tree_head(jsonb_set(:'sth', '{tree_size}', '1e400'), tracelink.node_public_key()) AS huge_number,
       tracelink.verify_tree_head(jsonb_set(:'sth', '{block_no}', '1.5'), tracelink.node_public_key()) AS fraction,
       tracelink.verify_tree_head(jsonb_set(:'sth', '{signature}', '"zz"'), tracelink.node_public_key()) AS bad_hex;

-- inclusion proofs for every entry, against the latest head and an older one
SELECT count(*) AS entries,
       bool_and(tracelink.verify_inclusion(p.leaf_index, p.tree_size, p.leaf_hash, p.proof, p.tree_root)) AS all_included,
       bool_and(p.leaf_hash = tracelink.merkle_leaf_hash(e.entry_hash)) AS leaf_is_entry_hash,
       bool_and(tracelink.verify_tree_head(p.signed_tree_head, tracelink.node_public_key())) AS heads_signed
  FROM tracelink.ledger_entries e, LATERAL tracelink.inclusion_proof(e.entry_hash) p;
SELECT count(*) AS early_entries,
       bool_and(tracelink.verify_inclusion(p.leaf_index, p.tree_size, p.leaf_hash, p.proof, p.tree_root)) AS all_included
  FROM tracelink.ledger l, LATERAL tracelink.inclusion_proof(l.entry_hash, 7) p
 WHERE l.ordinal < 7;
-- a proof does not verify for another entry or another root
SELECT tracelink.verify_inclusion(p.leaf_index, p.tree_size, tracelink.merkle_leaf_hash(sha256('forged')), p.proof, p.tree_root) AS forged_entry,
       tracelink.verify_inclusion(p.leaf_index, p.tree_size, p.leaf_hash, p.proof, sha256('other root')) AS other_root
  FROM tracelink.ledger l, LATERAL tracelink.inclusion_proof(l.entry_hash) p WHERE l.ordinal = 3;
SELECT err($$ SELECT * FROM tracelink.inclusion_proof(NULL) $$);
SELECT err($$ SELECT * FROM tracelink.inclusion_proof('\x00') $$);
SELECT err($$ SELECT * FROM tracelink.inclusion_proof(sha256('nothing')) $$);
SELECT err($$ SELECT * FROM tracelink.inclusion_proof((SELECT entry_hash FROM tracelink.ledger WHERE ordinal = 1), 5) $$);
SELECT err($$ SELECT * FROM tracelink.inclusion_proof((SELECT entry_hash FROM tracelink.ledger WHERE ordinal = 9), 7) $$);

-- consistency proofs between every pair of block boundaries
SELECT count(*) AS pairs,
       bool_and(tracelink.verify_consistency(c.old_size, c.new_size, c.old_root, c.new_root, c.proof)) AS all_consistent
  FROM tracelink.ledger_blocks a JOIN tracelink.ledger_blocks b ON a.tree_size <= b.tree_size,
       LATERAL tracelink.consistency_proof('alpha', a.tree_size, b.tree_size) c;
-- the old root of a proof is the signed root of the old head
SELECT c.old_root = decode(tracelink.signed_tree_head('alpha', 7) ->> 'tree_root', 'hex') AS old_root_signed,
       c.new_root = decode(tracelink.signed_tree_head() ->> 'tree_root', 'hex') AS new_root_signed
  FROM tracelink.consistency_proof('alpha', 7) c;
SELECT err($$ SELECT * FROM tracelink.consistency_proof('alpha', 0) $$);
SELECT err($$ SELECT * FROM tracelink.consistency_proof('alpha', 1000) $$);
SELECT err($$ SELECT * FROM tracelink.consistency_proof('alpha', 3, 5) $$);
SELECT err($$ SELECT * FROM tracelink.consistency_proof('nobody', 1) $$);
SELECT err($$ SELECT * FROM tracelink.consistency_proof(NULL, 1) $$);
SELECT err($$ SELECT tracelink.signed_tree_head('alpha', 5) $$);
SELECT err($$ SELECT tracelink.signed_tree_head('nobody') $$);
SELECT err($$ SELECT tracelink.tree_root('alpha', 100000) $$);
SELECT err($$ SELECT tracelink.tree_root('alpha', -1) $$);

-- export: a header, every entry's hashed bytes, every block
SELECT count(*) = 1 + (SELECT count(*) FROM tracelink.ledger_entries) + (SELECT count(*) FROM tracelink.ledger_blocks) AS line_count
  FROM tracelink.export('alpha');
SELECT x.line::jsonb - 'genesis_key' AS header FROM tracelink.export('alpha') x(line) LIMIT 1;
-- an entry line is exactly the entry's preimage: its SHA-256 is the entry hash
SELECT count(*) AS entry_lines,
       bool_and(sha256(convert_to(x.line, 'UTF8')) IN (SELECT entry_hash FROM tracelink.ledger_entries)) AS lines_hash_to_entries
  FROM tracelink.export('alpha') x(line) WHERE x.line::jsonb ->> 'type' = 'entry';
-- a block line without block_hash, entry_hashes and signature is the block's preimage
SELECT count(*) AS block_lines,
       bool_and(sha256(convert_to(tracelink.jcs(x.line::jsonb - 'block_hash' - 'entry_hashes' - 'signature'), 'UTF8'))
                = decode(x.line::jsonb ->> 'block_hash', 'hex')) AS headers_hash_to_block_hash,
       bool_and(tracelink.jcs(x.line) = x.line) AS lines_are_canonical
  FROM tracelink.export('alpha') x(line) WHERE x.line::jsonb ->> 'type' = 'block';
SELECT count(*) AS from_block_5 FROM tracelink.export('alpha', 5) x(line) WHERE x.line::jsonb ->> 'type' = 'block' AND (x.line::jsonb ->> 'block_no')::int < 5;
SELECT err($$ SELECT * FROM tracelink.export('nobody') $$);
SELECT err($$ SELECT * FROM tracelink.export(NULL) $$);
SELECT err($$ SELECT * FROM tracelink.export('alpha', -1) $$);
