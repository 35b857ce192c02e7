-- Backups: what pg_dump keeps, and finishing a restore.
--
-- Every table and sequence of node state is an extension configuration
-- object, so that pg_dump dumps its rows (and a sequence its value) and a
-- restore brings the node back whole.  docs/operations.md ("Checking and
-- backups") gives the procedure and the decisions; a regress test checks
-- that no table or sequence of the schema is left out.

-- The ledger and the node's identity: ledger_tx_seq must come back too, or
-- the next transaction would reuse a restored block's number (origin, tx).
SELECT pg_catalog.pg_extension_config_dump('tracelink.nodes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_entries', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_heads', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_tx_seq', '');

-- Replication: rows from peers that wait (their peers will not send them
-- again), the evidence of refused rows, and how to reach each peer.  The
-- connection strings are dumped like pg_subscription's are: keep passwords
-- out of them (a passfile), and protect backups.
SELECT pg_catalog.pg_extension_config_dump('tracelink.inbox_entries', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.inbox_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.apply_queue', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.equivocations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.peer_connections', '');

-- Projected workflow state (without foreign keys between them:
-- sqlsrc/60_workflow.sql).
SELECT pg_catalog.pg_extension_config_dump('tracelink.trace_links', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_invitations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_processes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.proposals', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ballots', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_version_history', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.modifications', '');

-- Projected trace data, with the sequences of its local surrogate keys.
SELECT pg_catalog.pg_extension_config_dump('tracelink.codes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.code_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_slots', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.slot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.records', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.transformations', '');

-- Rows staged for recording (unlogged: empty after a crash, by design).
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_staging', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_staging_id_seq', '');

-- What foreign keys would check, if pg_restore -j allowed them between an
-- extension's tables (sqlsrc/60_workflow.sql): rows of the projections
-- that refer to rows missing from another.  A restore that lost a table's
-- rows shows here; tracelink writes them consistently.
CREATE FUNCTION tracelink._dangling_references()
    RETURNS TABLE (referencing text, referenced text, rows bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT v.referencing, v.referenced, v.rows FROM (VALUES
    ('link_invitations.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_invitations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('link_processes.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_processes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('proposals.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.proposals c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('ballots.proposal_id', 'proposals',
     (SELECT count(*) FROM tracelink.ballots c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.proposal_id = c.proposal_id))),
    ('link_version_history.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_version_history c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('link_version_history.proposal_id', 'proposals',
     (SELECT count(*) FROM tracelink.link_version_history c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.proposal_id = c.proposal_id))),
    ('modifications.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.modifications c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('codes.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.codes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('codes.bind_slot', 'record_slots',
     (SELECT count(*) FROM tracelink.codes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.record_slots p WHERE p.slot_id = c.bind_slot))),
    ('records.code_id', 'codes',
     (SELECT count(*) FROM tracelink.records c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.code_id))),
    ('records.slot_id', 'record_slots',
     (SELECT count(*) FROM tracelink.records c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.record_slots p WHERE p.slot_id = c.slot_id))),
    ('transformations.parent_id', 'codes',
     (SELECT count(*) FROM tracelink.transformations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.parent_id))),
    ('transformations.child_id', 'codes',
     (SELECT count(*) FROM tracelink.transformations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.child_id))),
    ('peer_connections.name', 'nodes',
     (SELECT count(*) FROM tracelink.peer_connections c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.nodes p WHERE p.name = c.name)))
) AS v(referencing, referenced, rows)
WHERE v.rows > 0
$$;
COMMENT ON FUNCTION tracelink._dangling_references() IS
    'rows of tracelink''s tables that refer to rows missing from another (what foreign keys would refuse): empty unless a restore lost rows';
