-- SHA-256 and Ed25519: tracelink.sha256_digest, ed25519_public_key, ed25519_sign,
-- ed25519_verify; and the catalog entries of every hash, signature and
-- Merkle function (signature, volatility, strictness, privileges).
--
-- Ed25519 values are RFC 8032 section 7.1 TEST 1 and TEST 2.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

-- SHA-256 (FIPS 180-4 examples)
SELECT encode(tracelink.sha256_digest(''), 'hex') AS empty,
       encode(tracelink.sha256_digest('abc'), 'hex') AS abc;
SELECT encode(tracelink.sha256_digest(convert_to(repeat('a', 1000000), 'UTF8')), 'hex') AS million_a;
SELECT tracelink.sha256_digest(NULL) IS NULL AS strict;

CREATE TABLE rfc8032 (name text, seed bytea, public_key bytea, message bytea, signature bytea);
INSERT INTO rfc8032 VALUES
  ('TEST 1', '\x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
   '\xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', '',
   '\xe5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'),
  ('TEST 2', '\x4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
   '\x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', '\x72',
   '\x92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00');

-- keys from seeds, deterministic signatures, verification
SELECT name,
       tracelink.ed25519_public_key(seed) = public_key AS public_key_ok,
       tracelink.ed25519_sign(seed, message) = signature AS signature_ok,
       tracelink.ed25519_verify(public_key, message, signature) AS verifies
  FROM rfc8032 ORDER BY name;
SELECT encode(tracelink.ed25519_sign(seed, message), 'hex') AS signature FROM rfc8032 WHERE name = 'TEST 2';

-- a round trip with a key made here
SELECT tracelink.ed25519_verify(tracelink.ed25519_public_key(tracelink.sha256_digest('a seed')),
                                'a message',
                                tracelink.ed25519_sign(tracelink.sha256_digest('a seed'), 'a message')) AS round_trip;

-- Verification is false, never an error, for anything wrong.  Each row
-- changes one argument of TEST 2.
SELECT label, tracelink.ed25519_verify(pk, msg, sig) AS result
  FROM rfc8032, LATERAL (VALUES
    ('TEST 2 as published',         public_key,                          message,       signature),
    ('other message',               public_key,                          '\x73'::bytea, signature),
    ('message with a trailing byte', public_key,                         message || '\x00'::bytea, signature),
    ('R changed',                   public_key,                          message,       set_byte(signature, 0, get_byte(signature, 0) # 1)),
    ('S changed',                   public_key,                          message,       set_byte(signature, 40, get_byte(signature, 40) # 1)),
    ('S + 2^253 (not canonical)',   public_key,                          message,       set_byte(signature, 63, get_byte(signature, 63) | 32)),
    ('other public key',            tracelink.ed25519_public_key(tracelink.sha256_digest('x')), message, signature),
    ('identity as public key',      '\x0100000000000000000000000000000000000000000000000000000000000000'::bytea, message, signature),
    ('all-zero signature',          public_key,                          message,       decode(repeat('00', 64), 'hex')),
    ('NULL public key',             NULL,                                message,       signature),
    ('NULL message',                public_key,                          NULL,          signature),
    ('NULL signature',              public_key,                          message,       NULL),
    ('31-byte public key',          substr(public_key, 2),               message,       signature),
    ('33-byte public key',          public_key || '\x00'::bytea,         message,       signature),
    ('empty public key',            ''::bytea,                           message,       signature),
    ('63-byte signature',           public_key,                          message,       substr(signature, 2)),
    ('65-byte signature',           public_key,                          message,       signature || '\x00'::bytea),
    ('empty signature',             public_key,                          message,       ''::bytea)
  ) AS v(label, pk, msg, sig)
  WHERE name = 'TEST 2';

-- bad input to the builders: each error path with its SQLSTATE
SELECT err($$ SELECT tracelink.ed25519_public_key('\x0102') $$);
SELECT err($$ SELECT tracelink.ed25519_public_key('') $$);
SELECT err($$ SELECT tracelink.ed25519_public_key(tracelink.sha256_digest('a') || '\x00'::bytea) $$);
SELECT err($$ SELECT tracelink.ed25519_sign(tracelink.sha256_digest('a') || tracelink.sha256_digest('b'), 'm') $$);  -- libsodium's 64-byte secret key is not a seed
SELECT err($$ SELECT tracelink.ed25519_sign(substr(tracelink.sha256_digest('a'), 2), 'm') $$);
SELECT tracelink.ed25519_public_key(NULL) IS NULL AS public_key_strict,
       tracelink.ed25519_sign(NULL, 'm') IS NULL AS sign_strict_seed,
       tracelink.ed25519_sign(tracelink.sha256_digest('a'), NULL) IS NULL AS sign_strict_message;

-- the catalog: exact signatures, volatility, strictness, parallel safety,
-- a comment on each, EXECUTE for tracelink_reader and nothing for PUBLIC
SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') returns ' ||
         pg_get_function_result(p.oid) AS signature,
       p.provolatile AS vol, p.proisstrict AS strict, p.proparallel AS par,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented,
       has_function_privilege('tracelink_reader', p.oid, 'EXECUTE') AS reader,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.grantee = 0) AS public
  FROM pg_proc p
 WHERE p.pronamespace = 'tracelink'::regnamespace
   AND p.proname IN ('sha256_digest', 'merkle_leaf_hash', 'merkle_root', 'merkle_inclusion_proof',
                     'merkle_consistency_proof', 'verify_inclusion', 'verify_consistency',
                     'ed25519_public_key', 'ed25519_sign', 'ed25519_verify')
 ORDER BY p.proname;

-- the database is shared with the later tests: leave nothing behind
DROP TABLE rfc8032;
