-- tracelink.link: input and normalisation (process order, invitations,
-- voting), link input errors; for all three types: casts to and from jsonb,
-- equality and hashing, digests, binary send/receive.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

-- defaults: info, invitations, processes; process_order from the processes
SELECT '{"name":"Tea"}'::tracelink.link;
SELECT tracelink.process_order('{"name":"Tea","processes":[{"name":"B"},{"name":"A"},{"name":"B"}]}'::tracelink.link);
-- processes are put in process order; those not in it follow, in given order
SELECT tracelink.name(p)
  FROM tracelink.processes('{"name":"Tea","process_order":["A","B","C"],
        "processes":[{"name":"X"},{"name":"C"},{"name":"A"},{"name":"W"},{"name":"B"}]}'::tracelink.link) p;
-- a link design request: process order and invitations, nothing built yet;
-- info is free-form and kept canonical; voting rules are kept as given
SELECT '{"name":"Pu-erh tea","creator":"n1",
         "info":{"product":"tea","grades":[1,2.50],"origin":{"region":"Yunnan","country":"CN"}},
         "process_order":["Growing","Processing"],
         "invitations":{"Processing":["n3"],"Growing":["n2","n4"]},
         "voting":{"adoption":{"rule":"k_of_n","k":2},"modification":{"rule":"unanimous"}}}'::tracelink.link;
-- invitation keys that are not identifiers; unknown voting rules pass input
SELECT '{"name":"T","invitations":{"Tea growing":["n 2"]},"voting":{"adoption":{"rule":"plurality"}}}'::tracelink.link;

-- the realistic link used by the following tests
\set ECHO none
\i sql/include/tea.sql
\set ECHO all

SELECT l FROM tea;

-- link keys
SELECT err($$ SELECT '{"name":"T","owner":"n1"}'::tracelink.link $$);
SELECT hint_of($$ SELECT '{"name":"T","owner":"n1"}'::tracelink.link $$);
SELECT err($$ SELECT '{"info":{}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","creator":" n1"}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","info":"tea"}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","processes":{}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","processes":[{"name":"P","stages":[{"name":"S","forms":[{"name":"F","key":1}]}]}]}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","processes":[{"name":"P"},{"name":"Q","colour":1}]}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","process_order":"A,B"}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","process_order":["A",{"name":"B"}]}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","process_order":["A",""]}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","invitations":[]}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","invitations":{"":["n1"]}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","invitations":{"A ":["n1"]}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","invitations":{"Tea growing":"n1"}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","invitations":{"A":["n1",2]}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","invitations":{"Tea growing":[" n1"]}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":"majority"}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"approval":{"rule":"majority"}}}'::tracelink.link $$);
SELECT hint_of($$ SELECT '{"name":"T","voting":{"approval":{"rule":"majority"}}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"adoption":"majority"}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"adoption":{"k":2}}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"adoption":{"rule":1}}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"modification":{"rule":"k_of_n","n":3}}}'::tracelink.link $$);
SELECT hint_of($$ SELECT '{"name":"T","voting":{"modification":{"rule":"k_of_n","n":3}}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"adoption":{"rule":"k_of_n","k":"2"}}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"adoption":{"rule":"fraction","numerator":2.5,"denominator":3}}}'::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","voting":{"adoption":{"rule":"fraction","numerator":1,"denominator":-1e12}}}'::tracelink.link $$);

-- casts to and from jsonb --------------------------------------------------
SELECT l::jsonb -> 'process_order' AS process_order FROM tea;
SELECT '{"name":"S","order":2}'::tracelink.stage::jsonb;
SELECT '{"name":"P"}'::tracelink.process::jsonb;
-- jsonb -> definition normalises as input does
SELECT '{"name":"S","forms":[{"name":"F"}]}'::jsonb::tracelink.stage;
SELECT '{"stages":[{"name":"B"},{"name":"A"}],"name":"P"}'::jsonb::tracelink.process;
SELECT (l::jsonb)::tracelink.link OPERATOR(tracelink.=) l AS round_trip FROM tea;
SELECT ('{"name":"S"}'::jsonb::tracelink.stage)::text = '{"name":"S"}'::tracelink.stage::text AS same_as_input;
-- assignment casts: jsonb can be stored in a definition column
CREATE TEMP TABLE stage_col (s tracelink.stage);
INSERT INTO stage_col SELECT '{"name":"from jsonb"}'::jsonb;
SELECT s FROM stage_col;
-- jsonb keeps the last of repeated keys (text input refuses them)
SELECT '{"name":"first","name":"S"}'::jsonb::tracelink.stage;
-- the same errors as input, with the same details
SELECT err($$ SELECT '{"name":"S","forms":"x"}'::jsonb::tracelink.stage $$);
SELECT err($$ SELECT '[1]'::jsonb::tracelink.process $$);
SELECT err($$ SELECT '{"name":"T","processes":[{"name":"P","inputs":[{"name":"i","from":"Q"}]}]}'::jsonb::tracelink.link $$);
SELECT err($$ SELECT '{"name":"T","info":{"big":1e400}}'::jsonb::tracelink.link $$);
SELECT err($$ SELECT '{"name":"S","forms":"x"}'::jsonb::tracelink.stage $$)
     = err($$ SELECT '{"name":"S","forms":"x"}'::tracelink.stage $$) AS jsonb_error_equals_input_error;

-- equality and hashing: byte equality of the canonical form ------------------
SELECT '{"name":"S","role":""}'::tracelink.stage OPERATOR(tracelink.=) '{"role":"","name":"S"}'::tracelink.stage AS eq,
       '{"name":"S"}'::tracelink.stage OPERATOR(tracelink.<>) '{"name":"S","role":"x"}'::tracelink.stage AS ne,
       '{"name":"P"}'::tracelink.process OPERATOR(tracelink.=) '{"name":"P","stages":[]}'::tracelink.process AS eq_process,
       '{"name":"L"}'::tracelink.link OPERATOR(tracelink.<>) '{"name":"L","info":{"a":1}}'::tracelink.link AS ne_link;
SET search_path = tracelink, public;
SELECT l = l AS eq, l <> l AS ne FROM tea;
CREATE TEMP TABLE many (s tracelink.stage, p tracelink.process, l tracelink.link);
INSERT INTO many
SELECT format('{"name":"S%s"}', i % 3)::tracelink.stage,
       format('{"stages":[], "name":"P%s"}', i % 2)::tracelink.process,
       format('{"name":"L", "info":{"n":%s}}', i % 4)::tracelink.link
  FROM generate_series(1, 24) i;
SELECT count(*) FROM (SELECT DISTINCT s FROM many) x;
SELECT tracelink.name(p), count(*) FROM many GROUP BY p ORDER BY 1;
SELECT link_info(l), count(*) FROM many GROUP BY l ORDER BY link_info(l)::text;
SELECT count(*) FROM many a JOIN many b ON a.l = b.l;
SELECT count(*) FROM (SELECT s FROM many UNION SELECT s FROM many) x;
CREATE INDEX many_l_hash ON many USING hash (l);
SET enable_seqscan = off;
SELECT count(*) FROM many WHERE l = '{"name":"L","info":{"n":2}}';
RESET enable_seqscan;
DROP INDEX many_l_hash;
-- the hash support functions agree on equal values
SELECT definition_hash('{"name":"S"}'::stage) = definition_hash('{"role":"","name":"S"}'::stage) AS hash_equal,
       definition_hash_extended('{"name":"S"}'::stage, 7) = definition_hash_extended('{"members":[],"name":"S"}'::stage, 7) AS hash_extended_equal;
RESET search_path;

-- digests: SHA-256 of the canonical bytes --------------------------------------
SELECT encode(tracelink.digest('{"name":"S"}'::tracelink.stage), 'hex');
SELECT tracelink.digest(l) = tracelink.digest(l::jsonb) AS link_digest_matches_jsonb,
       tracelink.digest(l) = sha256(convert_to(l::text, 'UTF8')) AS link_digest_is_sha256_of_text
  FROM tea;
SELECT tracelink.digest(s) = tracelink.digest(s::jsonb) AS stage_digest_matches_jsonb
  FROM (SELECT '{"name":"Ernte 收获","description":"\u00e9\t\"q\"","order":7}'::tracelink.stage s) x;
SELECT tracelink.digest(p) = tracelink.digest(p::jsonb) AS process_digest_matches_jsonb
  FROM (SELECT tracelink.process(l, 'Growing') p FROM tea) x;
SELECT tracelink.digest(l) = tracelink.digest(l::jsonb) AS info_numbers_digest_matches_jsonb
  FROM (SELECT '{"name":"L","info":{"w":0.1,"big":1e21,"small":1e-7,"neg":-0,"int":9007199254740993}}'::tracelink.link l) x;
SELECT tracelink.digest('{"name":"S"}'::tracelink.stage) = tracelink.digest('{"role":"","name":"S","members":[]}'::tracelink.stage) AS equal_definitions_equal_digests;
SELECT tracelink.digest(NULL::tracelink.link) IS NULL AS strict;

-- binary send/receive: COPY ... (FORMAT binary) round trip --------------------
CREATE TABLE defs_bin (s tracelink.stage, p tracelink.process, l tracelink.link);
INSERT INTO defs_bin SELECT '{"name":"S","order":2}', tracelink.process(l, 'Growing'), l FROM tea;
CREATE TABLE defs_bin_copy (LIKE defs_bin);
CREATE FUNCTION copy_file(name text) RETURNS text LANGUAGE sql AS
    $$ SELECT current_setting('data_directory') || '/tracelink_regress_' || name || '.copy' $$;
DO $$
BEGIN
    EXECUTE format('COPY defs_bin TO %L WITH (FORMAT binary)', copy_file('defs'));
    EXECUTE format('COPY defs_bin_copy FROM %L WITH (FORMAT binary)', copy_file('defs'));
END
$$;
SELECT a.s::text = b.s::text AND a.p::text = b.p::text AND a.l::text = b.l::text AS round_trip
  FROM defs_bin a, defs_bin_copy b;
-- receive checks exactly as input does: write raw bytes (version byte 1 and
-- JSON text) as a bytea column, read them back as a definition column
CREATE TABLE raw_bytes (b bytea);
CREATE TABLE recv_stage (s tracelink.stage);
CREATE TABLE recv_link (l tracelink.link);
CREATE FUNCTION recv_as(target text, bytes bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE raw_bytes;
    EXECUTE format('TRUNCATE %I', target);
    INSERT INTO raw_bytes VALUES (bytes);
    EXECUTE format('COPY raw_bytes TO %L WITH (FORMAT binary)', copy_file('raw'));
    RETURN err(format('COPY %I FROM %L WITH (FORMAT binary)', target, copy_file('raw')));
END
$$;
-- valid, not canonical: normalised on the way in
SELECT recv_as('recv_stage', '\x01'::bytea || convert_to('{ "order":1, "name":"R" }', 'UTF8'));
SELECT s FROM recv_stage;
-- invalid: the same error as the text input
SELECT recv_as('recv_stage', '\x01'::bytea || convert_to('{"name":"R","forms":"x"}', 'UTF8'));
SELECT recv_as('recv_stage', '\x01'::bytea || convert_to('{"name":"R","forms":"x"}', 'UTF8'))
     = err($$ SELECT '{"name":"R","forms":"x"}'::tracelink.stage $$) AS recv_error_equals_input_error;
SELECT recv_as('recv_stage', '\x01'::bytea || convert_to('{"name":""}', 'UTF8'));
SELECT recv_as('recv_stage', '\x01'::bytea || convert_to('{"name":"R"', 'UTF8'));
SELECT recv_as('recv_link', '\x01'::bytea || convert_to('{"name":"L","processes":[{"name":"P","stages":[{"name":"A","order":1},{"name":"B"}]}]}', 'UTF8'));
SELECT recv_as('recv_link', '\x01'::bytea || convert_to('{"name":"L","processes":[{"name":"P","stages":[{"name":"A","order":1},{"name":"B"}]}]}', 'UTF8'))
     = err($$ SELECT '{"name":"L","processes":[{"name":"P","stages":[{"name":"A","order":1},{"name":"B"}]}]}'::tracelink.link $$) AS same_error;
-- binary framing: unknown version byte, no bytes at all
SELECT recv_as('recv_stage', '\x02'::bytea || convert_to('{"name":"R"}', 'UTF8'));
SELECT recv_as('recv_stage', ''::bytea);
SELECT count(*) FROM recv_stage;
DROP TABLE defs_bin, defs_bin_copy, raw_bytes, recv_stage, recv_link;
DROP FUNCTION recv_as(text, bytea), copy_file(text);
