-- An entry that arrives before its block waits: in memory while the
-- receiving transaction runs, then in tracelink.inbox_entries, written at
-- commit (by ingest() here; by an apply worker's initial table sync, which
-- copies entries and blocks separately, in the same way).  That write runs
-- in the pre-commit callback, where no snapshot is active; the payload
-- here is large and incompressible, so the row has a TOAST part too.  (A
-- build with assertions crashed at that write: docs/testing.md.)
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_nodes.sql
\set ECHO all
SELECT * FROM sim_node('parker');
SELECT entry_hash AS parked_hash, lines AS parked_lines
  FROM sim_action('parker', 'acme.note',
                  jsonb_build_object('note', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g))) \gset
-- the entry alone: it waits in the inbox
SELECT * FROM tracelink.ingest(split_part(:'parked_lines', E'\n', 1));
SELECT origin, seq, entry_hash = :'parked_hash' AS same_entry, length(payload) AS payload_bytes
  FROM tracelink.inbox_entries;
SELECT count(*) AS in_ledger FROM tracelink.ledger_entries WHERE entry_hash = :'parked_hash';
-- then its block: the entry leaves the inbox for the ledger, whole
SELECT * FROM tracelink.ingest(split_part(:'parked_lines', E'\n', 2));
SELECT count(*) AS parked FROM tracelink.inbox_entries;
SELECT length(payload) AS payload_bytes FROM tracelink.ledger_entries WHERE entry_hash = :'parked_hash';
SELECT origin, ok, entries, blocks FROM tracelink.verify('parker');
