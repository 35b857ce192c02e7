-- Off-chain files (docs/files.md): storing a large object as a blob,
-- reading it back checked, verify_blobs(), the file references record()
-- takes, and every refusal with its SQLSTATE.
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_beta_gamma.sql
\set ECHO all

-- a link of its own, whose form takes an image and a file
SELECT tracelink.request_link('Blob tea', ARRAY['Growing'], '{"Growing": ["alpha"]}',
    '{"product": "files"}', '{"rule": "unanimous"}') IS NOT NULL AS requested;
SELECT tracelink.reply_invitation('Blob tea', 'Growing', true) IS NOT NULL AS accepted;
SELECT tracelink.submit_process('Blob tea', '{"name": "Growing", "stages": [{"name": "Harvest", "forms": [
    {"name": "Harvest record", "key": true, "items": [
      {"name": "lot", "type": "text", "required": true, "trace_code": true},
      {"name": "photo", "type": "image"},
      {"name": "certificate", "type": "file"},
      {"name": "lab report", "type": "file", "audience": "process"}]}]}]}') IS NOT NULL AS submitted;
SELECT tracelink.vote(tracelink.assemble('Blob tea'), true) IS NOT NULL AS adopted;

-- a file of 2.5 MiB: three chunks, the last one half full
SELECT lo_from_bytea(0, decode(repeat('00112233445566778899aabbccddeeff', 163840), 'hex')) AS lo1 \gset
SELECT tracelink.store_blob(:lo1, 'leaf.jpg', 'image/jpeg') AS ref1 \gset
SELECT :'ref1'::jsonb - 'sha256' AS reference,
       :'ref1'::jsonb->>'sha256' = encode(sha256(lo_get(:lo1)), 'hex') AS named_by_its_sha256;
SELECT :'ref1'::jsonb->>'sha256' AS h1 \gset
SELECT origin, size, media_type, chunk_size, chunk_count, audience FROM tracelink.blobs
 WHERE sha256 = decode(:'h1', 'hex');
SELECT chunk_no, length(data), chunk_sha256 = sha256(data) AS hashed, origin, audience
  FROM tracelink.blob_chunks WHERE sha256 = decode(:'h1', 'hex') ORDER BY chunk_no;

-- read back: the chunks in order, the same bytes
SELECT count(*) AS chunks, sum(length(c)) AS bytes FROM (SELECT tracelink.read_blob(decode(:'h1', 'hex')) c) s;
SELECT string_agg(c, ''::bytea ORDER BY n) = lo_get(:lo1) AS same_bytes
  FROM tracelink.read_blob(decode(:'h1', 'hex')) WITH ORDINALITY AS r(c, n);
-- a read that stops early leaves nothing behind
SELECT length(tracelink.read_blob(decode(:'h1', 'hex'))) AS first_chunk LIMIT 1;
BEGIN;
SELECT length(c) AS first_chunk FROM (SELECT tracelink.read_blob(decode(:'h1', 'hex')) AS c) s LIMIT 1;
COMMIT;
-- into a new large object
SELECT tracelink.blob_to_lo(decode(:'h1', 'hex')) AS lo2 \gset
SELECT lo_get(:lo2) = lo_get(:lo1) AS lo_same;
SELECT lo_unlink(:lo2) AS unlinked;

-- storing it again is idempotent (another name gives another reference)
SELECT tracelink.store_blob(:lo1, 'leaf.jpg', 'image/jpeg') = :'ref1'::jsonb AS same_reference;
SELECT tracelink.store_blob(:lo1, 'copy.jpg') - 'sha256' AS other_name;
SELECT count(*) AS blobs FROM tracelink.blobs;
-- the large object is the caller's: still there
SELECT length(lo_get(:lo1)) AS lo_kept;

-- an empty file: no chunk
SELECT lo_from_bytea(0, '') AS lo0 \gset
SELECT tracelink.store_blob(:lo0, 'empty.txt', 'text/plain') - 'sha256' AS empty_ref;
SELECT count(*) AS chunks FROM tracelink.read_blob(sha256(''));
SELECT tracelink.blob_to_lo(sha256('')) AS lo4 \gset
SELECT length(lo_get(:lo4)) AS empty_lo, lo_unlink(:lo4) AS unlinked;

-- an audience: checked node names, known nodes, this node added, sorted
SELECT lo_from_bytea(0, 'for beta only') AS lo3 \gset
SELECT tracelink.store_blob(:lo3, 'secret.pdf', 'application/pdf', ARRAY['beta']) ->> 'size' AS size;
SELECT audience FROM tracelink.blobs WHERE sha256 = sha256('for beta only');
SELECT DISTINCT audience FROM tracelink.blob_chunks WHERE sha256 = sha256('for beta only');
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf', NULL, ARRAY['Beta']) $$);
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf', NULL, ARRAY['zeta']) $$);
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf', NULL, ARRAY[]::text[]) $$);
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf', NULL, ARRAY[NULL]::text[]) $$);
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf', NULL, ARRAY[['beta']]) $$);
-- the audience of a blob held cannot grow (its rows went to its audience only)
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf') $$);
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf', NULL, ARRAY['beta', 'gamma']) $$);
SELECT tracelink.store_blob(:lo3, 'secret.pdf', NULL, ARRAY['alpha', 'beta']) ->> 'name' AS same_audience;

-- bad arguments
SELECT err($$ SELECT tracelink.store_blob(4294967000, 'x.bin') $$);
SELECT err($$ SELECT tracelink.store_blob(NULL, 'x.bin') $$);
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, NULL) $$);
SELECT err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, ' x.bin') $$);
SELECT err($$ SELECT tracelink.read_blob('\x00') $$);
SELECT err($$ SELECT tracelink.blob_to_lo('\x0102') $$);
-- a role without rights on the large object cannot store it
CREATE ROLE regress_blob_member IN ROLE tracelink_member;
SET ROLE regress_blob_member;
SELECT regexp_replace(err($$ SELECT tracelink.store_blob($$ || :lo3 || $$, 'secret.pdf') $$), '[0-9]+$', 'N') AS refused;
RESET ROLE;
DROP ROLE regress_blob_member;

-- an unknown blob
SELECT err($$ SELECT tracelink.read_blob(sha256('never stored')) $$);
SELECT err($$ SELECT tracelink.blob_to_lo(sha256('never stored')) $$);

-- references in records: a held blob's size and media type must match
SELECT length(tracelink.record('Blob tea', 'LOT-B1', 'Growing', 'Harvest', 'Harvest record',
       jsonb_build_object('photo', :'ref1'::jsonb))) AS recorded;
SELECT err($$ SELECT tracelink.record('Blob tea', 'LOT-B2', 'Growing', 'Harvest', 'Harvest record',
       jsonb_build_object('photo', '$$ || :'ref1' || $$'::jsonb || '{"size": 5}')) $$);
SELECT err($$ SELECT tracelink.record('Blob tea', 'LOT-B2', 'Growing', 'Harvest', 'Harvest record',
       jsonb_build_object('photo', '$$ || :'ref1' || $$'::jsonb || '{"media_type": "image/png"}')) $$);
-- without size or media type, or a blob not held here: taken
SELECT length(tracelink.record('Blob tea', 'LOT-B3', 'Growing', 'Harvest', 'Harvest record',
       jsonb_build_object('photo', (:'ref1'::jsonb - 'size') - 'media_type'))) AS recorded;
SELECT length(tracelink.record('Blob tea', 'LOT-B4', 'Growing', 'Harvest', 'Harvest record',
       jsonb_build_object('certificate',
         jsonb_build_object('sha256', encode(sha256('held elsewhere'), 'hex'), 'name', 'cert.pdf', 'size', 9)))) AS recorded;

-- a private file reference (its item's audience is the process): checked
-- the same way before it leaves the public record
SELECT err($$ SELECT tracelink.record('Blob tea', 'LOT-B5', 'Growing', 'Harvest', 'Harvest record',
       jsonb_build_object('lab report', '$$ || :'ref1' || $$'::jsonb || '{"size": 7}')) $$);
SELECT length(tracelink.record('Blob tea', 'LOT-B5', 'Growing', 'Harvest', 'Harvest record',
       jsonb_build_object('lab report',
         jsonb_build_object('sha256', encode(sha256('private elsewhere'), 'hex'), 'name', 'lab.pdf')))) AS recorded;
SELECT r.data ? 'lab report' AS in_public_record, p.value ->> 'name' AS private_value
  FROM tracelink.records r JOIN tracelink.private_values p USING (entry_hash, position)
 WHERE p.item = 'lab report';

-- verify_blobs(): everything held and referenced
SELECT CASE sha256 WHEN decode(:'h1', 'hex') THEN 'leaf.jpg' WHEN sha256('') THEN 'empty.txt'
                   WHEN sha256('for beta only') THEN 'secret.pdf' WHEN sha256('held elsewhere') THEN 'cert.pdf'
                   ELSE 'lab.pdf (private)' END AS file, status, detail
  FROM tracelink.verify_blobs()
 WHERE sha256 IN (decode(:'h1', 'hex'), sha256(''), sha256('for beta only'), sha256('held elsewhere'),
                  sha256('private elsewhere'))
 ORDER BY file;

-- corruption at rest (written behind tracelink's back, as a superuser can):
-- read_blob() refuses before the first byte, naming the chunk
ALTER TABLE tracelink.blob_chunks DISABLE TRIGGER USER;
UPDATE tracelink.blob_chunks SET data = overlay(data PLACING '\xff' FROM 10) WHERE sha256 = decode(:'h1', 'hex') AND chunk_no = 1;
SELECT err($$ SELECT tracelink.read_blob(decode('$$ || :'h1' || $$', 'hex')) $$);
SELECT err($$ SELECT tracelink.blob_to_lo(decode('$$ || :'h1' || $$', 'hex')) $$);
SELECT status, detail ~ '^chunk 1 does not match its SHA-256' AS names_chunk_1
  FROM tracelink.verify_blobs() WHERE encode(sha256, 'hex') = :'h1';
-- a chunk and its hash changed together: the file's SHA-256 tells
UPDATE tracelink.blob_chunks SET chunk_sha256 = sha256(data) WHERE sha256 = decode(:'h1', 'hex') AND chunk_no = 1;
SELECT err($$ SELECT tracelink.read_blob(decode('$$ || :'h1' || $$', 'hex')) $$) ~ '^XX001: blob [0-9a-f]{64} is corrupt: every chunk matches its own SHA-256, but the file''s 2621440 bytes hash to' AS whole_checked;
-- a chunk missing
DELETE FROM tracelink.blob_chunks WHERE sha256 = decode(:'h1', 'hex') AND chunk_no = 1;
SELECT regexp_replace(err($$ SELECT tracelink.read_blob(decode('$$ || :'h1' || $$', 'hex')) $$), '[0-9a-f]{64}', '<h1>') AS missing;
SELECT status, detail FROM tracelink.verify_blobs() WHERE encode(sha256, 'hex') = :'h1';
-- a wrong header
UPDATE tracelink.blobs SET chunk_count = 7 WHERE sha256 = decode(:'h1', 'hex');
SELECT status, detail FROM tracelink.verify_blobs() WHERE encode(sha256, 'hex') = :'h1';
ALTER TABLE tracelink.blob_chunks ENABLE TRIGGER USER;
-- fetching needs a peer that serves it: none is subscribed here
SELECT regexp_replace(err($$ SELECT tracelink.fetch_blob(decode('$$ || :'h1' || $$', 'hex')) $$), '[0-9a-f]{64}', '<h1>') AS no_peer;
SELECT err($$ SELECT tracelink.fetch_blob(decode('$$ || :'h1' || $$', 'hex'), 'beta') $$);
SELECT tracelink.fetch_blob(sha256('for beta only')) AS nothing_to_fetch;

-- rows cannot be written or deleted by members
SET ROLE tracelink_member;
SELECT err($$ DELETE FROM tracelink.blob_chunks $$);
SELECT err($$ INSERT INTO tracelink.blobs (sha256, origin, size, chunk_size, chunk_count) VALUES ('\x00', 'alpha', 0, 1048576, 0) $$);
SELECT err($$ SELECT count(*) FROM tracelink.blob_chunks $$);
SELECT count(*) > 0 AS readers_see_blobs FROM tracelink.blobs;
RESET ROLE;

SELECT lo_unlink(:lo1) + lo_unlink(:lo0) + lo_unlink(:lo3) AS unlinked;
