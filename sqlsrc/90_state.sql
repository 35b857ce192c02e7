-- Convergence: one digest over the state every node of the group shares.
-- Each part is built next to its tables (_ledger_state in
-- 50_replication.sql, _workflow_state in 60_workflow.sql, _trace_state in
-- 70_trace.sql); node-local tables (keys, peers, quarantine, inbox,
-- templates) are left out.

CREATE FUNCTION tracelink.state_digest() RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT tracelink.digest(tracelink._ledger_state() || tracelink._workflow_state()
                        || jsonb_build_object('trace', tracelink._trace_state()))
$$;
COMMENT ON FUNCTION tracelink.state_digest() IS
    'SHA-256 of the canonical projected state shared by the group (ledger heads and keys, workflow, trace data); nodes holding the same entries have the same digest';

GRANT EXECUTE ON FUNCTION tracelink.state_digest() TO tracelink_reader;
