-- Test helpers for the regression suite (sql/include/setup.sql, which
-- every file includes): err(sql) shows the SQLSTATE and message a
-- statement raised.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all
SELECT err('SELECT 1/0');
SELECT err('SELECT 1');
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'tracelink';
