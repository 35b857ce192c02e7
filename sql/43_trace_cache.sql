-- The trace part's backend caches (src/trace_model.c, src/trace_query.c)
-- after the extension is dropped and created again in the same session,
-- as before a restore: record slots are described from a cache by slot
-- id, and the new tables number their slots from 1 again; parsed link
-- versions are cached by proposal.  Relcache invalidation empties both
-- caches when their tables go, so trace() describes the new slots and the
-- versions of the dropped extension are not kept.
--
-- A database of its own: this file drops the extension.
SET client_min_messages = error;
SELECT current_database() AS regress_db \gset
CREATE DATABASE tl_trace_cache;
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE tl_trace_cache SET tracelink.key_directory = %L',
                   'pg_tracelink_regress_tc_' || pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
END
$$;
\c tl_trace_cache
SET client_min_messages = error;
CREATE EXTENSION tracelink;

-- A link of one process on a node of its own, its version adopted, and
-- a record of it.  The second incarnation below uses names of the same
-- lengths, so that its parsed version takes the same memory.
CREATE FUNCTION one_process_link(node text, link text, process text, stage text, form text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tracelink.init_node(node);
    PERFORM tracelink.request_link(link, ARRAY[process], jsonb_build_object(process, jsonb_build_array(node)),
                                   '{}', '{"rule": "unanimous"}');
    PERFORM tracelink.reply_invitation(link, process, true);
    PERFORM tracelink.submit_process(link, jsonb_build_object('name', process, 'stages', jsonb_build_array(
        jsonb_build_object('name', stage, 'forms', jsonb_build_array(jsonb_build_object(
            'name', form, 'key', true, 'items', '[{"name": "lot", "type": "text", "required": true, "trace_code": true}]'::jsonb)))))::text::tracelink.process);
    PERFORM tracelink.vote(tracelink.assemble(link), true);
    RETURN true;
END
$$;
SELECT one_process_link('solo', 'Cache', 'Make', 'Mix', 'Sheet') AS ready;
SELECT tracelink.record('Cache', 'C-1', 'Make', 'Mix', 'Sheet') IS NOT NULL AS recorded;
SELECT code, relation, link, version, process, stage, form, node FROM tracelink.trace('C-1');
-- (the cache's context and its hash table's)
SELECT sum(used_bytes) AS versions_used FROM pg_backend_memory_contexts WHERE name = 'tracelink versions' \gset

-- Dropped and created again: slot 1 is now another slot.
DROP EXTENSION tracelink CASCADE;
CREATE EXTENSION tracelink;
SELECT one_process_link('sole', 'Cachf', 'Pres', 'Dry', 'Batch') AS ready;
SELECT tracelink.record('Cachf', 'C-1', 'Pres', 'Dry', 'Batch') IS NOT NULL AS recorded;
SELECT code, relation, link, version, process, stage, form, node FROM tracelink.trace('C-1');
SELECT tracelink.trace_json('C-1') #>> '{codes,0,records,0,process}' AS json_process;
-- the version of the dropped extension is gone from the cache
SELECT sum(used_bytes) <= :versions_used AS one_version_cached
  FROM pg_backend_memory_contexts WHERE name = 'tracelink versions';

\c :regress_db
DROP DATABASE tl_trace_cache;
