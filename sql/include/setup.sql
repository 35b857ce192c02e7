-- Test helpers for the regression suite (not part of the extension),
-- included by every file in sql/ so that each one runs alone
-- (make installcheck REGRESS=<name>) as well as in the whole suite;
-- idempotent.
--
-- err(sql) runs a statement and shows the SQLSTATE and message it raised,
-- so expected files check both without C line numbers.
CREATE OR REPLACE FUNCTION err(sql text) RETURNS text LANGUAGE plpgsql AS $$
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

-- hint_of(sql): the HINT of the error a statement raises (err() shows the
-- SQLSTATE, message and detail).
CREATE OR REPLACE FUNCTION hint_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN hint;
END
$$;
