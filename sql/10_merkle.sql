-- RFC 6962 / RFC 9162 Merkle trees: tracelink.merkle_leaf_hash,
-- merkle_root, merkle_inclusion_proof, merkle_consistency_proof,
-- verify_inclusion, verify_consistency.
--
-- Expected hashes are copied from transparency-dev/merkle's reference
-- vectors (shared/vectors/rfc6962-merkle/rfc6962_reference_vectors.json).
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

-- The 8 reference leaves d0..d7, and leaves(n): the first n of them as an
-- array (empty array for n = 0).
CREATE TABLE ref_leaves (i int PRIMARY KEY, data bytea NOT NULL);
INSERT INTO ref_leaves VALUES
  (0, ''), (1, '\x00'), (2, '\x10'), (3, '\x2021'), (4, '\x3031'),
  (5, '\x40414243'), (6, '\x5051525354555657'),
  (7, '\x606162636465666768696a6b6c6d6e6f');
CREATE FUNCTION ref(n int) RETURNS bytea[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(data ORDER BY i), '{}') FROM ref_leaves WHERE i < n
$$;
-- Synthetic leaves for bigger trees: the 4-byte big-endian numbers 0..n-1.
CREATE FUNCTION leaves(n int) RETURNS bytea[] LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(int4send(i) ORDER BY i), '{}') FROM generate_series(0, n - 1) i
$$;
-- An independent tree head straight from the recursive definition
-- (RFC 9162 2.1.1) in PL/pgSQL, using only SHA-256.
CREATE FUNCTION ref_mth(leaves bytea[]) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n int := coalesce(array_length(leaves, 1), 0);
    k int := 1;
BEGIN
    IF n = 0 THEN
        RETURN tracelink.sha256_digest('');
    ELSIF n = 1 THEN
        RETURN tracelink.sha256_digest('\x00'::bytea || leaves[1]);
    END IF;
    WHILE k * 2 < n LOOP
        k := k * 2;
    END LOOP;
    RETURN tracelink.sha256_digest('\x01'::bytea || ref_mth(leaves[1:k]) || ref_mth(leaves[k + 1:n]));
END
$$;
-- proof with one byte of element k (1-based) flipped.
CREATE FUNCTION flip(proof bytea[], k int) RETURNS bytea[] LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(CASE WHEN j = k THEN set_byte(e, 7, get_byte(e, 7) # 1) ELSE e END ORDER BY j)
    FROM unnest(proof) WITH ORDINALITY AS u(e, j)
$$;
CREATE FUNCTION flip(h bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT set_byte(h, 31, get_byte(h, 31) # 128)
$$;
CREATE FUNCTION hex(b bytea[]) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(encode(e, 'hex') ORDER BY j), '{}') FROM unnest(b) WITH ORDINALITY AS u(e, j)
$$;

-- hashing (RFC 6962 section 2.1; transparency-dev TestRFC6962Hasher)
SELECT encode(tracelink.merkle_leaf_hash(''), 'hex') AS empty_leaf,
       encode(tracelink.merkle_leaf_hash('L123456'), 'hex') AS leaf_l123456;
SELECT tracelink.merkle_leaf_hash('abc') = tracelink.sha256_digest('\x00616263') AS leaf_prefix_0x00;

-- tree heads of the first n reference leaves, n = 0..8
SELECT n, encode(tracelink.merkle_root(ref(n)), 'hex') AS root
  FROM generate_series(0, 8) n ORDER BY n;
SELECT n, tracelink.merkle_root(ref(n)) = decode(want, 'hex') AS matches_reference
  FROM (VALUES
    (0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'),
    (1, '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'),
    (2, 'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'),
    (3, 'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77'),
    (4, 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'),
    (5, '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4'),
    (6, '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef'),
    (7, 'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c'),
    (8, '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'))
    AS v(n, want) ORDER BY n;

-- merkle_root folds the leaves through the frontier (as the ledger does);
-- it must agree with the recursive definition for every shape of tree
SELECT count(*) AS sizes,
       count(*) FILTER (WHERE tracelink.merkle_root(leaves(n)) = ref_mth(leaves(n))) AS equal
  FROM (SELECT generate_series(0, 70) UNION ALL VALUES (255), (256), (257), (1000)) AS s(n);
-- leaf positions are 0-based whatever the array's lower bound
SELECT tracelink.merkle_root('[0:2]={"\\x01","\\x02","\\x03"}'::bytea[]) =
       tracelink.merkle_root('{"\\x01","\\x02","\\x03"}'::bytea[]) AS lower_bound_ignored,
       tracelink.merkle_inclusion_proof('[5:7]={"\\x01","\\x02","\\x03"}'::bytea[], 2) =
       tracelink.merkle_inclusion_proof('{"\\x01","\\x02","\\x03"}'::bytea[], 2) AS same_proof;

-- inclusion proofs of the reference tree
SELECT leaf_index, tree_size, hex(tracelink.merkle_inclusion_proof(ref(tree_size), leaf_index)) AS proof
  FROM (VALUES (0, 1), (0, 8), (5, 8), (2, 3), (1, 5)) AS v(leaf_index, tree_size);
-- consistency proofs of the reference tree; old_size = size gives the empty proof
SELECT old_size, new_size, hex(tracelink.merkle_consistency_proof(ref(new_size), old_size)) AS proof
  FROM (VALUES (1, 1), (1, 8), (6, 8), (2, 5), (6, 7), (8, 8)) AS v(old_size, new_size);

-- Round trips for every leaf of every tree of 1..20 leaves: the proof
-- verifies against merkle_root; flipping one bit of any proof hash, of the
-- leaf hash or of the root, dropping or adding a hash, or moving the index
-- makes it fail.
CREATE TABLE incl AS
  SELECT n, i, tracelink.merkle_leaf_hash((leaves(n))[i + 1]) AS leaf_hash,
         tracelink.merkle_inclusion_proof(leaves(n), i) AS proof,
         tracelink.merkle_root(leaves(n)) AS root
    FROM generate_series(1, 20) n, generate_series(0, n - 1) i;
SELECT count(*) AS proofs,
       count(*) FILTER (WHERE tracelink.verify_inclusion(i, n, leaf_hash, proof, root)) AS verified,
       count(*) FILTER (WHERE tracelink.verify_inclusion(i, n, flip(leaf_hash), proof, root)) AS bad_leaf_accepted,
       count(*) FILTER (WHERE tracelink.verify_inclusion(i, n, leaf_hash, proof, flip(root))) AS bad_root_accepted,
       count(*) FILTER (WHERE cardinality(proof) > 0 AND
                        tracelink.verify_inclusion(i, n, leaf_hash, proof[1:cardinality(proof) - 1], root)) AS short_accepted,
       count(*) FILTER (WHERE tracelink.verify_inclusion(i, n, leaf_hash, proof || root, root)) AS long_accepted,
       count(*) FILTER (WHERE tracelink.verify_inclusion(i # 1, n, leaf_hash, proof, root)) AS moved_accepted,
       max(cardinality(proof)) AS longest
  FROM incl;
SELECT count(*) AS tampered, count(*) FILTER (WHERE tracelink.verify_inclusion(i, n, leaf_hash, flip(proof, k), root)) AS accepted
  FROM incl, generate_series(1, cardinality(proof)) k;
-- a proof is exactly the hashes of the subtrees beside the path (here for n = 13: the sibling of leaf 12 is the 8-leaf and the 4-leaf tree)
SELECT proof = ARRAY[ref_mth((leaves(12))[9:12]), ref_mth((leaves(12))[1:8])] AS sibling_subtrees
  FROM incl WHERE n = 13 AND i = 12;

-- the same for consistency proofs between every pair of sizes 1 <= m <= n <= 20
CREATE TABLE cons AS
  SELECT m, n, tracelink.merkle_root(leaves(m)) AS old_root, tracelink.merkle_root(leaves(n)) AS new_root,
         tracelink.merkle_consistency_proof(leaves(n), m) AS proof
    FROM generate_series(1, 20) n, generate_series(1, n) m;
SELECT count(*) AS proofs,
       count(*) FILTER (WHERE tracelink.verify_consistency(m, n, old_root, new_root, proof)) AS verified,
       count(*) FILTER (WHERE m = n AND cardinality(proof) = 0) AS empty_when_equal,
       count(*) FILTER (WHERE tracelink.verify_consistency(m, n, flip(old_root), new_root, proof)) AS bad_old_accepted,
       count(*) FILTER (WHERE tracelink.verify_consistency(m, n, old_root, flip(new_root), proof)) AS bad_new_accepted,
       count(*) FILTER (WHERE cardinality(proof) > 0 AND
                        tracelink.verify_consistency(m, n, old_root, new_root, proof[1:cardinality(proof) - 1])) AS short_accepted,
       count(*) FILTER (WHERE tracelink.verify_consistency(m, n, old_root, new_root, proof || new_root)) AS long_accepted,
       count(*) FILTER (WHERE tracelink.verify_consistency(n, m, new_root, old_root, proof) AND m <> n) AS reversed_accepted,
       max(cardinality(proof)) AS longest
  FROM cons;
SELECT count(*) AS tampered, count(*) FILTER (WHERE tracelink.verify_consistency(m, n, old_root, new_root, flip(proof, k))) AS accepted
  FROM cons, generate_series(1, cardinality(proof)) k;

-- bad input to the builders: each error path with its SQLSTATE
SELECT err($$ SELECT tracelink.merkle_root('{"\\x01",NULL}'::bytea[]) $$);
SELECT err($$ SELECT tracelink.merkle_root('{{"\\x01"},{"\\x02"}}'::bytea[]) $$);
SELECT err($$ SELECT tracelink.merkle_inclusion_proof('{"\\x01",NULL,"\\x03"}'::bytea[], 0) $$);
SELECT err($$ SELECT tracelink.merkle_inclusion_proof('{{"\\x01"},{"\\x02"}}'::bytea[], 0) $$);
SELECT err($$ SELECT tracelink.merkle_inclusion_proof(leaves(3), 3) $$);
SELECT err($$ SELECT tracelink.merkle_inclusion_proof(leaves(3), -1) $$);
SELECT err($$ SELECT tracelink.merkle_inclusion_proof('{}', 0) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof(leaves(3), 0) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof(leaves(3), -5) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof(leaves(3), 4) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof('{}', 1) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof('{NULL}', 1) $$);
SELECT err($$ SELECT tracelink.merkle_consistency_proof('{{"\\x01"}}', 1) $$);
-- STRICT: NULL arguments give NULL
SELECT tracelink.merkle_leaf_hash(NULL) IS NULL AS leaf_hash_null,
       tracelink.merkle_root(NULL) IS NULL AS root_null,
       tracelink.merkle_inclusion_proof(leaves(2), NULL) IS NULL AS inclusion_null,
       tracelink.merkle_consistency_proof(NULL, 1) IS NULL AS consistency_null;

-- Malformed input to the verifiers is false, never an error.  Each row
-- changes one argument of a proof that verifies.
CREATE TABLE good AS
  SELECT 5::bigint AS i, 8::bigint AS n, tracelink.merkle_leaf_hash((ref(8))[6]) AS leaf_hash,
         tracelink.merkle_inclusion_proof(ref(8), 5) AS proof, tracelink.merkle_root(ref(8)) AS root;
SELECT label, tracelink.verify_inclusion(li, ts, lh, pr, rt) AS result
  FROM good, LATERAL (VALUES
    ('the good proof',             i,    n,    leaf_hash,        proof,                                   root),
    ('NULL leaf_index',            NULL, n,    leaf_hash,        proof,                                   root),
    ('NULL tree_size',             i,    NULL, leaf_hash,        proof,                                   root),
    ('NULL leaf_hash',             i,    n,    NULL,             proof,                                   root),
    ('NULL proof',                 i,    n,    leaf_hash,        NULL,                                    root),
    ('NULL root',                  i,    n,    leaf_hash,        proof,                                   NULL),
    ('NULL proof element',         i,    n,    leaf_hash,        proof[1:2] || NULL::bytea,               root),
    ('two-dimensional proof',      i,    n,    leaf_hash,        ARRAY[proof],                            root),
    ('31-byte leaf_hash',          i,    n,    substr(leaf_hash, 2), proof,                               root),
    ('33-byte leaf_hash',          i,    n,    leaf_hash || '\x00'::bytea, proof,                         root),
    ('empty root',                 i,    n,    leaf_hash,        proof,                                   ''::bytea),
    ('33-byte root',               i,    n,    leaf_hash,        proof,                                   root || '\x00'::bytea),
    ('31-byte proof element',      i,    n,    leaf_hash,        proof[1:2] || substr(proof[3], 2),       root),
    ('empty proof element',        i,    n,    leaf_hash,        proof[1:2] || ''::bytea || proof[3],     root),
    ('empty proof',                i,    n,    leaf_hash,        '{}'::bytea[],                           root),
    ('65-hash proof',              i,    n,    leaf_hash,        array_fill(root, ARRAY[65]),             root),
    ('negative leaf_index',        -1,   n,    leaf_hash,        proof,                                   root),
    ('negative tree_size',         i,    -8,   leaf_hash,        proof,                                   root),
    ('leaf_index = tree_size',     8,    n,    leaf_hash,        proof,                                   root),
    ('leaf_index > tree_size',     9223372036854775807, n, leaf_hash, proof,                            root),
    ('tree_size 0',                0,    0,    leaf_hash,        '{}'::bytea[],                           tracelink.sha256_digest('')),
    ('huge tree_size',             i,    9223372036854775807, leaf_hash, proof,                         root)
  ) AS v(label, li, ts, lh, pr, rt);
-- a one-leaf tree: the leaf hash is the root, the proof is empty
SELECT tracelink.verify_inclusion(0, 1, tracelink.merkle_leaf_hash('x'), '{}', tracelink.merkle_root('{x}')) AS one_leaf;

CREATE TABLE good_c AS
  SELECT 6::bigint AS m, 8::bigint AS n, tracelink.merkle_root(ref(6)) AS old_root,
         tracelink.merkle_root(ref(8)) AS new_root, tracelink.merkle_consistency_proof(ref(8), 6) AS proof;
SELECT label, tracelink.verify_consistency(os, ns, r1, r2, pr) AS result
  FROM good_c, LATERAL (VALUES
    ('the good proof',             m,    n,    old_root,         new_root,         proof),
    ('NULL old_size',              NULL, n,    old_root,         new_root,         proof),
    ('NULL new_size',              m,    NULL, old_root,         new_root,         proof),
    ('NULL old_root',              m,    n,    NULL,             new_root,         proof),
    ('NULL new_root',              m,    n,    old_root,         NULL,             proof),
    ('NULL proof',                 m,    n,    old_root,         new_root,         NULL),
    ('NULL proof element',         m,    n,    old_root,         new_root,         NULL::bytea || proof[2:3]),
    ('two-dimensional proof',      m,    n,    old_root,         new_root,         ARRAY[proof]),
    ('31-byte old_root',           m,    n,    substr(old_root, 2), new_root,      proof),
    ('33-byte new_root',           m,    n,    old_root,         new_root || '\x00'::bytea, proof),
    ('31-byte proof element',      m,    n,    old_root,         new_root,         substr(proof[1], 2) || proof[2:3]),
    ('empty proof',                m,    n,    old_root,         new_root,         '{}'::bytea[]),
    ('65-hash proof',              m,    n,    old_root,         new_root,         array_fill(old_root, ARRAY[65])),
    ('negative old_size',          -6,   n,    old_root,         new_root,         proof),
    ('negative new_size',          m,    -8,   old_root,         new_root,         proof),
    ('old_size > new_size',        n,    m,    new_root,         old_root,         proof),
    ('huge new_size',              m,    9223372036854775807, old_root, new_root,  proof),
    ('0 -> 0, empty roots equal',  0,    0,    tracelink.sha256_digest(''), tracelink.sha256_digest(''), '{}'::bytea[]),
    ('0 -> 8, empty old root',     0,    n,    tracelink.sha256_digest(''), new_root,      '{}'::bytea[]),
    ('0 -> 8, some proof',         0,    n,    tracelink.sha256_digest(''), new_root,      ARRAY[new_root]),
    ('8 -> 8, same root',          n,    n,    new_root,         new_root,         '{}'::bytea[]),
    ('8 -> 8, other root',         n,    n,    new_root,         old_root,         '{}'::bytea[]),
    ('8 -> 8, non-empty proof',    n,    n,    new_root,         new_root,         ARRAY[new_root])
  ) AS v(label, os, ns, r1, r2, pr);

-- the database is shared with the later tests: leave nothing behind
DROP TABLE ref_leaves, incl, cons, good, good_c;
DROP FUNCTION ref(int), leaves(int), ref_mth(bytea[]), flip(bytea[], int), flip(bytea), hex(bytea[]);
