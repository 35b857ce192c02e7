-- Privileges, declarations and comments of the definition objects: nothing
-- is granted to PUBLIC; pure functions to tracelink_reader, template writers
-- to tracelink_member; internal helpers to nobody.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

CREATE TEMP TABLE def_functions (f regprocedure, grantee text);
INSERT INTO def_functions
SELECT p::regprocedure, 'reader' FROM unnest(ARRAY[
    'tracelink.stage_in(cstring)', 'tracelink.stage_out(tracelink.stage)',
    'tracelink.stage_recv(internal)', 'tracelink.stage_send(tracelink.stage)',
    'tracelink.process_in(cstring)', 'tracelink.process_out(tracelink.process)',
    'tracelink.process_recv(internal)', 'tracelink.process_send(tracelink.process)',
    'tracelink.link_in(cstring)', 'tracelink.link_out(tracelink.link)',
    'tracelink.link_recv(internal)', 'tracelink.link_send(tracelink.link)',
    'tracelink.stage(jsonb)', 'tracelink.process(jsonb)', 'tracelink.link(jsonb)',
    'tracelink.jsonb(tracelink.stage)', 'tracelink.jsonb(tracelink.process)', 'tracelink.jsonb(tracelink.link)',
    'tracelink.definition_eq(tracelink.stage,tracelink.stage)',
    'tracelink.definition_ne(tracelink.stage,tracelink.stage)',
    'tracelink.definition_hash(tracelink.stage)',
    'tracelink.definition_hash_extended(tracelink.stage,bigint)',
    'tracelink.definition_eq(tracelink.process,tracelink.process)',
    'tracelink.definition_ne(tracelink.process,tracelink.process)',
    'tracelink.definition_hash(tracelink.process)',
    'tracelink.definition_hash_extended(tracelink.process,bigint)',
    'tracelink.definition_eq(tracelink.link,tracelink.link)',
    'tracelink.definition_ne(tracelink.link,tracelink.link)',
    'tracelink.definition_hash(tracelink.link)',
    'tracelink.definition_hash_extended(tracelink.link,bigint)',
    'tracelink.digest(tracelink.stage)', 'tracelink.digest(tracelink.process)', 'tracelink.digest(tracelink.link)',
    'tracelink.name(tracelink.stage)', 'tracelink.name(tracelink.process)', 'tracelink.name(tracelink.link)',
    'tracelink.stages(tracelink.process)', 'tracelink.forms(tracelink.stage)',
    'tracelink.data_items(tracelink.process)', 'tracelink.data_items(tracelink.stage)',
    'tracelink.trace_code_items(tracelink.process)',
    'tracelink.inputs(tracelink.process)', 'tracelink.outputs(tracelink.process)',
    'tracelink.processes(tracelink.link)', 'tracelink.process(tracelink.link,text)',
    'tracelink.process_order(tracelink.link)', 'tracelink.invitations(tracelink.link)',
    'tracelink.voting_rule(tracelink.link,text)', 'tracelink.link_info(tracelink.link)',
    'tracelink.with_process(tracelink.link,tracelink.process)',
    'tracelink.merge_patch(tracelink.stage,jsonb)', 'tracelink.merge_patch(tracelink.process,jsonb)',
    'tracelink.merge_patch(tracelink.link,jsonb)',
    'tracelink.validate(tracelink.stage)', 'tracelink.validate(tracelink.process)', 'tracelink.validate(tracelink.link)',
    'tracelink.validate_strict(tracelink.stage)', 'tracelink.validate_strict(tracelink.process)',
    'tracelink.validate_strict(tracelink.link)',
    'tracelink.mesh(tracelink.link)', 'tracelink.mesh_layers(tracelink.link)',
    'tracelink.template(text)', 'tracelink.instantiate_template(text,text,jsonb)']) p
UNION ALL
SELECT p::regprocedure, 'member' FROM unnest(ARRAY[
    'tracelink.save_template(text,tracelink.process,text,boolean)', 'tracelink.drop_template(text)']) p
UNION ALL
SELECT p::regprocedure, 'nobody' FROM unnest(ARRAY[
    'tracelink.invoking_role()', 'tracelink.check_template_name(text)',
    'tracelink.check_template_owner(text,name,text)']) p;

-- every function of the extension that mentions a definition type or a
-- template is in the list above
SELECT p.oid::regprocedure AS missing_from_list
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tracelink')
   AND (p.oid::regprocedure::text ~ 'tracelink\.(stage|process|link)|template'
        OR p.proname IN ('invoking_role', 'stage', 'process', 'link', 'jsonb'))
   AND p.oid NOT IN (SELECT f FROM def_functions)
   -- workflow functions that take definitions: their privileges are tested with the workflow
   AND p.proname NOT IN ('link_id', '_touches_key_forms', 'submit_process', 'submit_process_from_template',
                          '_fill_creators');

-- no EXECUTE for PUBLIC; the right role can execute; readers cannot write
SELECT f, grantee FROM def_functions
 WHERE has_function_privilege('public', f, 'EXECUTE')
    OR (grantee = 'reader') <> has_function_privilege('tracelink_reader', f, 'EXECUTE')
    OR (grantee IN ('reader', 'member')) <> has_function_privilege('tracelink_member', f, 'EXECUTE')
    OR (grantee = 'nobody' AND has_function_privilege('tracelink_admin', f, 'EXECUTE'));
SELECT count(*), grantee FROM def_functions GROUP BY grantee ORDER BY grantee;

-- SECURITY DEFINER only for the template writers, each with a safe search_path
SELECT f, prosecdef, proconfig FROM def_functions JOIN pg_proc p ON p.oid = f
 WHERE prosecdef OR grantee <> 'reader' ORDER BY f::text;

-- declared volatility, strictness and parallel safety
SELECT provolatile, proisstrict, proparallel, count(*) FROM def_functions JOIN pg_proc p ON p.oid = f
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT f, provolatile, proisstrict, proparallel FROM def_functions JOIN pg_proc p ON p.oid = f
 WHERE provolatile <> 'i' OR NOT proisstrict OR proparallel <> 's' ORDER BY f::text;

-- types: usage for readers, not for PUBLIC
SELECT t, has_type_privilege('public', t, 'USAGE') AS public, has_type_privilege('tracelink_reader', t, 'USAGE') AS reader
  FROM unnest(ARRAY['tracelink.stage', 'tracelink.process', 'tracelink.link']::regtype[]) t;

-- the templates table: SELECT for readers only, writes for nobody but its owner
SELECT r, has_table_privilege(r, 'tracelink.templates', 'SELECT') AS can_select,
       has_table_privilege(r, 'tracelink.templates', 'INSERT,UPDATE,DELETE,TRUNCATE') AS can_write
  FROM unnest(ARRAY['public', 'tracelink_reader', 'tracelink_member', 'tracelink_admin']) r;

-- every object has a comment
SELECT f AS function_without_comment FROM def_functions WHERE obj_description(f, 'pg_proc') IS NULL;
SELECT t AS type_without_comment
  FROM unnest(ARRAY['tracelink.stage', 'tracelink.process', 'tracelink.link']::regtype[]) t
 WHERE obj_description(t, 'pg_type') IS NULL;
SELECT o.oid::regoperator AS operator_without_comment FROM pg_operator o
 WHERE o.oprleft IN ('tracelink.stage'::regtype, 'tracelink.process'::regtype, 'tracelink.link'::regtype)
   AND obj_description(o.oid, 'pg_operator') IS NULL;
SELECT c.castsource::regtype, c.casttarget::regtype, c.castcontext, obj_description(c.oid, 'pg_cast') IS NOT NULL AS commented
  FROM pg_cast c
 WHERE c.castsource IN ('tracelink.stage'::regtype, 'tracelink.process'::regtype, 'tracelink.link'::regtype)
    OR c.casttarget IN ('tracelink.stage'::regtype, 'tracelink.process'::regtype, 'tracelink.link'::regtype)
 ORDER BY c.castsource::regtype::text, c.casttarget::regtype::text;
SELECT opc.opcname, am.amname, obj_description(opc.oid, 'pg_opclass') IS NOT NULL AS commented,
       obj_description(opc.opcfamily, 'pg_opfamily') IS NOT NULL AS family_commented
  FROM pg_opclass opc JOIN pg_am am ON am.oid = opc.opcmethod
 WHERE opc.opcintype IN ('tracelink.stage'::regtype, 'tracelink.process'::regtype, 'tracelink.link'::regtype)
 ORDER BY opc.opcname;
SELECT a.attname AS column_without_comment FROM pg_attribute a
 WHERE a.attrelid = 'tracelink.templates'::regclass AND a.attnum > 0
   AND col_description(a.attrelid, a.attnum) IS NULL;
SELECT obj_description('tracelink.templates'::regclass, 'pg_class') IS NOT NULL AS table_commented;

-- across the whole extension: no function or procedure is executable by PUBLIC
SELECT p.oid::regprocedure AS executable_by_public, p.prokind
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tracelink')
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT count(*) > 0 AS extension_has_procedures
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tracelink') AND p.prokind = 'p';

-- across the whole extension: every object has a comment, and so has every
-- table, view and sequence of the schema (serial sequences are not members)
SELECT pg_describe_object(d.classid, d.objid, 0) AS member_without_comment
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tracelink')
   AND obj_description(d.objid, d.classid::regclass::text) IS NULL;
SELECT c.oid::regclass AS relation_without_comment FROM pg_class c
 WHERE c.relnamespace = 'tracelink'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'S', 'f')
   AND obj_description(c.oid, 'pg_class') IS NULL;

-- the database is shared with later tests: leave nothing behind
DROP FUNCTION hint_of(text);
