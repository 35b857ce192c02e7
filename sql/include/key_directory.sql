-- This run's key files apart from earlier runs' on the same cluster: a key
-- directory of its own for the current database (relative: inside the data
-- directory, which init_node warns about), then a new session that uses it.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET tracelink.key_directory = %L',
                   current_database(),
                   'pg_tracelink_regress_' || pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
END
$$;
\c
