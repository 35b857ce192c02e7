-- Working the quarantine: retrying rows once their cause is fixed, the
-- notification of each refusal, and the alerts an operator polls
-- (docs/operations.md, "Quarantine" and "Alerts").

CREATE TYPE tracelink.retried_row AS (id bigint, what text, origin text, outcome text, reason text);
COMMENT ON TYPE tracelink.retried_row IS
    'what tracelink.retry_quarantined() did with a quarantined row: outcome applied, waiting (like a row that arrives early), quarantined (refused again: reason is why) or not retried (permanent)';

CREATE FUNCTION tracelink.retry_quarantined(ids bigint[] DEFAULT NULL, origin text DEFAULT NULL,
                                            reason_like text DEFAULT NULL)
    RETURNS SETOF tracelink.retried_row
    AS 'MODULE_PATHNAME', 'tl_retry_quarantined'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.retry_quarantined(bigint[], text, text) IS
    'after the cause is fixed (a key pinned late, an unexpected error; a refused effect when named by id), puts quarantined rows (those with these ids, of this origin, whose reason is LIKE reason_like; NULL: any) through the apply path again, with the same checks; rows that pass leave the quarantine, rows refused again stay with the new reason, permanent ones (quarantine_retryable() false) are not retried';
GRANT EXECUTE ON FUNCTION tracelink.retry_quarantined(bigint[], text, text) TO tracelink_admin;

-- NOTIFY tracelink_quarantine, payload {"id": <quarantine id>, "what": ...},
-- for every row that enters the quarantine (by any path).
CREATE FUNCTION tracelink._quarantine_notify() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tl_quarantine_notify'
    LANGUAGE C;
COMMENT ON FUNCTION tracelink._quarantine_notify() IS
    'announces each new quarantine row on channel tracelink_quarantine: {"id": id, "what": what}';
CREATE TRIGGER notify AFTER INSERT ON tracelink.quarantine
    FOR EACH ROW EXECUTE FUNCTION tracelink._quarantine_notify();
-- apply workers run as replicas: the trigger fires there too
ALTER TABLE tracelink.quarantine ENABLE ALWAYS TRIGGER notify;
COMMENT ON TRIGGER notify ON tracelink.quarantine IS
    'NOTIFY tracelink_quarantine for each row put in quarantine';

-- Alerts: one row per condition that needs an operator, per node concerned.
CREATE FUNCTION tracelink.sync_alerts(max_lag interval DEFAULT '5 minutes',
                                      max_wait interval DEFAULT '15 minutes',
                                      recent interval DEFAULT '1 hour',
                                      OUT alert text, OUT node text, OUT since timestamptz,
                                      OUT count bigint, OUT detail text)
    RETURNS SETOF record
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT 'equivocation', e.origin, pg_catalog.min(e.detected_at), pg_catalog.count(*),
       'signed two different blocks with one number (tracelink.equivocations)'
  FROM tracelink.equivocations e
 GROUP BY e.origin
UNION ALL
SELECT 'quarantined', q.origin, pg_catalog.min(q.quarantined_at), pg_catalog.count(*),
       'rows quarantined lately (within recent; tracelink.quarantined)'
  FROM tracelink.quarantine q
 WHERE q.quarantined_at > pg_catalog.now() - recent
 GROUP BY q.origin
UNION ALL
SELECT 'retryable', q.origin, pg_catalog.min(q.quarantined_at), pg_catalog.count(*),
       'quarantined for a cause that can be fixed: fix it, then tracelink.retry_quarantined()'
  FROM tracelink.quarantine q
 WHERE tracelink.quarantine_retryable(q.what, q.reason)
 GROUP BY q.origin
UNION ALL
SELECT 'peer down', p.name, p.last_message_at, NULL::bigint, 'subscription ' || p.status
  FROM tracelink.peers p
 WHERE p.status IN ('down', 'disabled')
UNION ALL
SELECT 'lag', s.peer, s.last_block_applied_at, NULL::bigint,
       'last block applied more than max_lag after it was sealed (tracelink.sync_status.lag)'
  FROM tracelink.sync_status s
 WHERE s.lag > max_lag
UNION ALL
SELECT 'waiting', w.origin, pg_catalog.min(w.queued_at), pg_catalog.count(*),
       'entries waiting longer than max_wait for their dependencies (tracelink.apply_queue)'
  FROM tracelink.apply_queue w
 WHERE w.queued_at < pg_catalog.now() - max_wait
 GROUP BY w.origin
UNION ALL
SELECT 'parked', b.origin, pg_catalog.min(b.sealed_at), pg_catalog.count(*),
       'blocks sealed longer than max_wait ago, waiting for their predecessor (tracelink.inbox_blocks)'
  FROM tracelink.inbox_blocks b
 WHERE b.sealed_at < pg_catalog.now() - max_wait
 GROUP BY b.origin
$$;
COMMENT ON FUNCTION tracelink.sync_alerts(interval, interval, interval) IS
    'what needs an operator, one row per alert and node: equivocation, quarantined (in the last `recent`), retryable, peer down, lag (over max_lag), waiting (apply_queue entries older than max_wait), parked (blocks older than max_wait); no row: nothing to do';

CREATE VIEW tracelink.alerts AS SELECT * FROM tracelink.sync_alerts();
COMMENT ON VIEW tracelink.alerts IS
    'tracelink.sync_alerts() with its default thresholds (lag 5 minutes, waiting 15 minutes, quarantined in the last hour): what a monitoring system polls';

GRANT EXECUTE ON FUNCTION tracelink.sync_alerts(interval, interval, interval) TO tracelink_reader;
GRANT SELECT ON tracelink.alerts TO tracelink_reader;
