-- Node "alpha" with the ledger sql/21_proofs.sql leaves behind: that of
-- ledger_alpha.sql (which this includes) and the two blocks 21_proofs
-- appends, replayed only when alpha's chain ends where 20_ledger left it.
\i sql/include/ledger_alpha.sql
SELECT count(*) = 13 AS tl_replay_proofs FROM tracelink.ledger_blocks WHERE origin = 'alpha' \gset
\if :tl_replay_proofs
\o /dev/null
SELECT count(tracelink.append('acme.scan', pg_catalog.jsonb_build_object('batch', 1, 'i', g))) FROM pg_catalog.generate_series(1, 7) g;
SELECT count(tracelink.append('acme.scan', pg_catalog.jsonb_build_object('batch', 2, 'i', g))) FROM pg_catalog.generate_series(1, 3) g;
\o
\endif
\unset tl_replay_proofs
