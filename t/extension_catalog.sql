-- Every fact of tracelink's catalog a fresh CREATE EXTENSION and an upgrade
-- must agree on, as one jsonb object "<object> | <aspect>" => value: each
-- member object (pg_depend 'e') with its definition, owner, ACL, initial
-- privileges and comment; tables' columns (in order), constraints, indexes,
-- triggers, policies and rules; views' definitions; types, operators,
-- operator families, casts; the extension's version and config-dump
-- registrations; the schema.  Used by t/094_upgrade_catalog.pl
-- (docs/upgrades.md); by hand: psql -At -f t/extension_catalog.sql.
WITH ext AS (
    SELECT e.oid, e.extname, e.extversion, e.extrelocatable, e.extnamespace,
           e.extconfig, e.extcondition
      FROM pg_catalog.pg_extension e WHERE e.extname = 'tracelink'
), members AS (
    SELECT d.classid, d.objid, d.objsubid,
           (pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid)).type || ' '
           || (pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid)).identity AS object
      FROM pg_catalog.pg_depend d, ext
     WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
    SELECT m.object, c.* FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
), facts(object, aspect, value) AS (
    SELECT m.object, 'member', '' FROM members m
  UNION ALL
    SELECT m.object, 'comment', ds.description FROM members m
      JOIN pg_catalog.pg_description ds ON ds.classoid = m.classid AND ds.objoid = m.objid AND ds.objsubid = 0
  UNION ALL
    SELECT m.object, 'initial privileges ' || ip.objsubid || ' ' || ip.privtype::text, ip.initprivs::text
      FROM members m
      JOIN pg_catalog.pg_init_privs ip ON ip.classoid = m.classid AND ip.objoid = m.objid
  -- routines
  UNION ALL
    SELECT m.object, 'definition',
           CASE WHEN p.prokind = 'a' THEN p.prosrc ELSE pg_catalog.pg_get_functiondef(p.oid) END
      FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
  UNION ALL
    SELECT m.object, 'owner, acl', p.proowner::pg_catalog.regrole || ' ' || coalesce(p.proacl::text, 'default')
      FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
  -- relations: tables, views, sequences
  UNION ALL
    SELECT r.object, 'relation',
           pg_catalog.format('kind %s persistence %s owner %s acl %s options %s rls %s/%s replica identity %s',
                             r.relkind, r.relpersistence, r.relowner::pg_catalog.regrole,
                             coalesce(r.relacl::text, 'default'), coalesce(r.reloptions::text, 'none'),
                             r.relrowsecurity, r.relforcerowsecurity, r.relreplident)
      FROM rels r
  UNION ALL
    SELECT r.object, 'view definition', pg_catalog.pg_get_viewdef(r.oid, true)
      FROM rels r WHERE r.relkind IN ('v', 'm')
  UNION ALL
    SELECT r.object, 'sequence',
           pg_catalog.format('type %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
                             s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                             s.seqcache, s.seqcycle,
                             coalesce((SELECT d.refobjid::pg_catalog.regclass || '.' || a.attname
                                         FROM pg_catalog.pg_depend d
                                         JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                          AND d.objid = r.oid AND d.deptype IN ('a', 'i')
                                          AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                          AND d.refobjsubid > 0), 'none'))
      FROM rels r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid
  UNION ALL
    SELECT r.object, 'column ' || a.attname,
           pg_catalog.format('position %s type %s not null %s default %s identity "%s" generated "%s" collation %s storage %s compression "%s" statistics %s acl %s comment %s',
                             pg_catalog.rank() OVER (PARTITION BY r.oid ORDER BY a.attnum),
                             pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                             coalesce(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), 'none'),
                             a.attidentity, a.attgenerated,
                             CASE WHEN a.attcollation = 0 THEN '-' ELSE a.attcollation::pg_catalog.regcollation::text END,
                             a.attstorage, a.attcompression, a.attstattarget,
                             coalesce(a.attacl::text, 'default'),
                             coalesce(pg_catalog.col_description(r.oid, a.attnum), 'none'))
      FROM rels r
      JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
  UNION ALL
    SELECT r.object, 'constraint ' || co.conname,
           pg_catalog.pg_get_constraintdef(co.oid, true) || ' comment '
           || coalesce(pg_catalog.obj_description(co.oid, 'pg_constraint'), 'none')
      FROM rels r JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid
  UNION ALL
    SELECT r.object, 'index ' || ic.relname,
           pg_catalog.pg_get_indexdef(i.indexrelid) || pg_catalog.format(' clustered %s replica identity %s comment %s',
                             i.indisclustered, i.indisreplident,
                             coalesce(pg_catalog.obj_description(i.indexrelid, 'pg_class'), 'none'))
      FROM rels r JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  UNION ALL
    SELECT r.object, 'trigger ' || t.tgname,
           pg_catalog.pg_get_triggerdef(t.oid, true) || pg_catalog.format(' enabled %s comment %s', t.tgenabled,
                             coalesce(pg_catalog.obj_description(t.oid, 'pg_trigger'), 'none'))
      FROM rels r JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
  UNION ALL
    SELECT r.object, 'policy ' || po.polname,
           pg_catalog.format('command %s permissive %s roles %s using %s with check %s comment %s',
                             po.polcmd, po.polpermissive,
                             (SELECT pg_catalog.array_agg(CASE WHEN x = 0 THEN 'public' ELSE x::pg_catalog.regrole::text END ORDER BY 1)
                                FROM pg_catalog.unnest(po.polroles) x),
                             coalesce(pg_catalog.pg_get_expr(po.polqual, po.polrelid), 'none'),
                             coalesce(pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid), 'none'),
                             coalesce(pg_catalog.obj_description(po.oid, 'pg_policy'), 'none'))
      FROM rels r JOIN pg_catalog.pg_policy po ON po.polrelid = r.oid
  UNION ALL
    SELECT r.object, 'rule ' || rw.rulename, pg_catalog.pg_get_ruledef(rw.oid, true)
      FROM rels r JOIN pg_catalog.pg_rewrite rw ON rw.ev_class = r.oid AND rw.rulename <> '_RETURN'
  -- types
  UNION ALL
    SELECT m.object, 'type',
           pg_catalog.format('type %s len %s byval %s category %s preferred %s delim %s in %s out %s recv %s send %s typmod %s/%s analyze %s align %s storage %s not null %s base %s typmod %s dims %s collation %s default %s owner %s acl %s',
                             t.typtype, t.typlen, t.typbyval, t.typcategory, t.typispreferred, t.typdelim,
                             t.typinput::pg_catalog.regprocedure, t.typoutput::pg_catalog.regprocedure,
                             t.typreceive::pg_catalog.regprocedure, t.typsend::pg_catalog.regprocedure,
                             t.typmodin::pg_catalog.regprocedure, t.typmodout::pg_catalog.regprocedure,
                             t.typanalyze::pg_catalog.regprocedure, t.typalign, t.typstorage, t.typnotnull,
                             CASE WHEN t.typbasetype = 0 THEN '-' ELSE pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
                             t.typtypmod, t.typndims,
                             CASE WHEN t.typcollation = 0 THEN '-' ELSE t.typcollation::pg_catalog.regcollation::text END,
                             coalesce(t.typdefault, 'none'), t.typowner::pg_catalog.regrole,
                             coalesce(t.typacl::text, 'default'))
      FROM members m JOIN pg_catalog.pg_type t ON t.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
  UNION ALL
    SELECT m.object, 'attribute ' || a.attname,
           pg_catalog.format('position %s type %s collation %s comment %s',
                             pg_catalog.rank() OVER (PARTITION BY t.oid ORDER BY a.attnum),
                             pg_catalog.format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attcollation = 0 THEN '-' ELSE a.attcollation::pg_catalog.regcollation::text END,
                             coalesce(pg_catalog.col_description(t.typrelid, a.attnum), 'none'))
      FROM members m JOIN pg_catalog.pg_type t ON t.oid = m.objid
      JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
  UNION ALL
    SELECT m.object, 'labels', pg_catalog.string_agg(en.enumlabel, ', ' ORDER BY en.enumsortorder)
      FROM members m JOIN pg_catalog.pg_enum en ON en.enumtypid = m.objid
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
     GROUP BY m.object
  UNION ALL
    SELECT m.object, 'domain constraint ' || co.conname, pg_catalog.pg_get_constraintdef(co.oid, true)
      FROM members m JOIN pg_catalog.pg_constraint co ON co.contypid = m.objid
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
  -- operators, operator classes and families, casts
  UNION ALL
    SELECT m.object, 'operator',
           pg_catalog.format('kind %s merges %s hashes %s result %s commutator %s negator %s code %s restrict %s join %s',
                             o.oprkind, o.oprcanmerge, o.oprcanhash, o.oprresult::pg_catalog.regtype,
                             o.oprcom::pg_catalog.regoperator, o.oprnegate::pg_catalog.regoperator,
                             o.oprcode::pg_catalog.regprocedure, o.oprrest::pg_catalog.regprocedure,
                             o.oprjoin::pg_catalog.regprocedure)
      FROM members m JOIN pg_catalog.pg_operator o ON o.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_operator'::pg_catalog.regclass
  UNION ALL
    SELECT m.object, 'operator class',
           pg_catalog.format('default %s type %s family %s', oc.opcdefault, oc.opcintype::pg_catalog.regtype,
                             (pg_catalog.pg_identify_object('pg_catalog.pg_opfamily'::pg_catalog.regclass, oc.opcfamily, 0)).identity)
      FROM members m JOIN pg_catalog.pg_opclass oc ON oc.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_opclass'::pg_catalog.regclass
  UNION ALL
    SELECT m.object, 'operator ' || ao.amopstrategy,
           pg_catalog.format('%s (%s, %s) purpose %s', ao.amopopr::pg_catalog.regoperator,
                             ao.amoplefttype::pg_catalog.regtype, ao.amoprighttype::pg_catalog.regtype, ao.amoppurpose)
      FROM members m JOIN pg_catalog.pg_amop ao ON ao.amopfamily = m.objid
     WHERE m.classid = 'pg_catalog.pg_opfamily'::pg_catalog.regclass
  UNION ALL
    SELECT m.object, 'function ' || ap.amprocnum || ' ' || ap.amproclefttype::pg_catalog.regtype || ' ' || ap.amprocrighttype::pg_catalog.regtype,
           ap.amproc::pg_catalog.regprocedure::text
      FROM members m JOIN pg_catalog.pg_amproc ap ON ap.amprocfamily = m.objid
     WHERE m.classid = 'pg_catalog.pg_opfamily'::pg_catalog.regclass
  UNION ALL
    SELECT m.object, 'cast',
           pg_catalog.format('function %s context %s method %s',
                             CASE WHEN ca.castfunc = 0 THEN '-' ELSE ca.castfunc::pg_catalog.regprocedure::text END,
                             ca.castcontext, ca.castmethod)
      FROM members m JOIN pg_catalog.pg_cast ca ON ca.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass
  -- the extension and its schema
  UNION ALL
    SELECT 'extension tracelink', 'extension',
           pg_catalog.format('version %s relocatable %s schema %s', e.extversion, e.extrelocatable,
                             e.extnamespace::pg_catalog.regnamespace)
      FROM ext e
  UNION ALL
    SELECT 'extension tracelink', 'config dump ' || c.cfg::pg_catalog.regclass,
           'condition ' || pg_catalog.quote_literal(c.cond)
      FROM ext e, ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS c(cfg, cond)
  UNION ALL
    SELECT 'schema ' || n.nspname, 'schema',
           pg_catalog.format('owner %s acl %s comment %s', n.nspowner::pg_catalog.regrole,
                             coalesce(n.nspacl::text, 'default'),
                             coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace'), 'none'))
      FROM ext e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
  UNION ALL
    SELECT 'schema ' || n.nspname, 'default privileges ' || da.defaclrole::pg_catalog.regrole || ' ' || da.defaclobjtype::text,
           da.defaclacl::text
      FROM ext e JOIN pg_catalog.pg_default_acl da ON da.defaclnamespace = e.extnamespace
      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
)
SELECT pg_catalog.jsonb_build_object(
           'facts', pg_catalog.jsonb_object_agg(f.object || ' | ' || f.aspect, f.value),
           'duplicates', pg_catalog.count(*) - pg_catalog.count(DISTINCT f.object || ' | ' || f.aspect))
  FROM facts f;
