-- Test helpers for the regression suite (not part of the extension).
-- err(sql) runs a statement and shows the SQLSTATE and message it raised,
-- so expected files check both without C line numbers.
CREATE FUNCTION err(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || msg || coalesce(' [' || nullif(detail, '') || ']', '');
END
$$;
SELECT err('SELECT 1/0');
SELECT err('SELECT 1');
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'tracelink';
