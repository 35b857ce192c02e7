-- Shadowing objects for sql/90_search_path.sql (not part of the extension).
--
-- Run by a role that owns schema "evil".  For every function, aggregate and
-- operator of pg_catalog that a plain SQL or PL/pgSQL object can stand in
-- for, evil gets one with the same name and argument types that records, in
-- evil.ran, that it ran and as whom, then does what the original does.  A
-- session whose search_path is "evil, pg_catalog" resolves those names to
-- evil's objects; tracelink must never.  (coalesce, nullif, greatest and
-- the like are syntax, not functions: they cannot be shadowed.)
CREATE TABLE evil.ran (what text NOT NULL, by_role name NOT NULL DEFAULT current_user);
GRANT INSERT ON evil.ran TO PUBLIC;

CREATE FUNCTION evil.note(what text) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog
    AS $$ INSERT INTO evil.ran (what) VALUES (what) $$;
GRANT EXECUTE ON FUNCTION evil.note(text) TO PUBLIC;

DO $plant$
DECLARE
    -- types an SQL-level function can take and return
    plain_ok CONSTANT text := $$
        (t.typtype IN ('b', 'e', 'r', 'm', 'd', 'c') AND t.typname NOT IN ('cstring', 'internal')
         OR t.oid IN ('anyelement'::regtype, 'anyarray'::regtype, 'anynonarray'::regtype,
                      'anyenum'::regtype, 'anyrange'::regtype, 'anycompatible'::regtype,
                      'anycompatiblearray'::regtype, 'anycompatiblenonarray'::regtype))$$;
    f record;
    args text;
    params text;
    made integer := 0;
BEGIN
    -- functions
    FOR f IN EXECUTE format($q$
        SELECT p.oid, p.proname, p.proretset, p.prorettype, p.pronargs, p.proargtypes::oid[] AS argtypes
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'pg_catalog'::regnamespace
           AND p.prokind = 'f'
           AND p.proallargtypes IS NULL
           AND p.provariadic = 0
           AND p.pronargs <= 8
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = p.prorettype AND %s)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes::oid[]) a
                             JOIN pg_catalog.pg_type t ON t.oid = a WHERE NOT %s)
         ORDER BY p.oid$q$, plain_ok, plain_ok)
    LOOP
        SELECT pg_catalog.string_agg(pg_catalog.format_type(a, NULL), ', ' ORDER BY o),
               pg_catalog.string_agg('$' || o, ', ' ORDER BY o)
          INTO args, params
          FROM pg_catalog.unnest(f.argtypes) WITH ORDINALITY AS x(a, o);
        BEGIN
            IF f.proretset THEN
                EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS SETOF %s LANGUAGE plpgsql AS %L',
                    f.proname, coalesce(args, ''), pg_catalog.format_type(f.prorettype, NULL),
                    format('BEGIN PERFORM evil.note(%L); RETURN QUERY SELECT * FROM pg_catalog.%I(%s); END',
                           f.proname, f.proname, coalesce(params, '')));
            ELSE
                EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
                    f.proname, coalesce(args, ''), pg_catalog.format_type(f.prorettype, NULL),
                    format('BEGIN PERFORM evil.note(%L); RETURN pg_catalog.%I(%s); END',
                           f.proname, f.proname, coalesce(params, '')));
            END IF;
            made := made + 1;
        EXCEPTION WHEN others THEN
            NULL;   -- a signature plpgsql cannot mirror: skipped, counted below
        END;
    END LOOP;
    RAISE NOTICE 'planted % functions', CASE WHEN made > 2000 THEN 'over 2000' ELSE made::text END;

    -- operators: a function that notes and applies the original, then the operator
    made := 0;
    FOR f IN EXECUTE format($q$
        SELECT o.oid, o.oprname, o.oprleft, o.oprright, o.oprresult
          FROM pg_catalog.pg_operator o
         WHERE o.oprnamespace = 'pg_catalog'::regnamespace
           AND o.oprcode <> 0
           AND (o.oprleft = 0 OR EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = o.oprleft AND %s))
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = o.oprright AND %s)
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = o.oprresult AND %s)
         ORDER BY o.oid$q$, plain_ok, plain_ok, plain_ok)
    LOOP
        BEGIN
            IF f.oprleft = 0 THEN
                EXECUTE format('CREATE FUNCTION evil.op_%s(%s) RETURNS %s LANGUAGE plpgsql AS %L',
                    f.oid, pg_catalog.format_type(f.oprright, NULL), pg_catalog.format_type(f.oprresult, NULL),
                    format('BEGIN PERFORM evil.note(%L); RETURN OPERATOR(pg_catalog.%s) $1; END',
                           'operator ' || f.oprname, f.oprname));
                EXECUTE format('CREATE OPERATOR evil.%s (RIGHTARG = %s, FUNCTION = evil.op_%s)',
                    f.oprname, pg_catalog.format_type(f.oprright, NULL), f.oid);
            ELSE
                EXECUTE format('CREATE FUNCTION evil.op_%s(%s, %s) RETURNS %s LANGUAGE plpgsql AS %L',
                    f.oid, pg_catalog.format_type(f.oprleft, NULL), pg_catalog.format_type(f.oprright, NULL),
                    pg_catalog.format_type(f.oprresult, NULL),
                    format('BEGIN PERFORM evil.note(%L); RETURN $1 OPERATOR(pg_catalog.%s) $2; END',
                           'operator ' || f.oprname, f.oprname));
                EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.op_%s)',
                    f.oprname, pg_catalog.format_type(f.oprleft, NULL), pg_catalog.format_type(f.oprright, NULL),
                    f.oid);
            END IF;
            made := made + 1;
        EXCEPTION WHEN others THEN
            NULL;
        END;
    END LOOP;
    RAISE NOTICE 'planted % operators', CASE WHEN made > 500 THEN 'over 500' ELSE made::text END;
END
$plant$;

-- aggregates tracelink's SQL uses, each with a state function that notes it
CREATE FUNCTION evil.count_step(bigint) RETURNS bigint LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('count(*)'); RETURN $1 OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION evil.count_any_step(bigint, anyelement) RETURNS bigint LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('count'); RETURN $1 OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE evil.count(anyelement) (SFUNC = evil.count_any_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION evil.array_agg_step(anyarray, anynonarray) RETURNS anyarray LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('array_agg'); RETURN pg_catalog.array_append($1, $2); END $$;
CREATE AGGREGATE evil.array_agg(anynonarray) (SFUNC = evil.array_agg_step, STYPE = anyarray);
CREATE FUNCTION evil.jsonb_agg_step(jsonb, anyelement) RETURNS jsonb LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('jsonb_agg');
             RETURN pg_catalog.jsonb_insert(pg_catalog.coalesce($1, '[]'), '{-1}', pg_catalog.to_jsonb($2), true); END $$;
CREATE AGGREGATE evil.jsonb_agg(anyelement) (SFUNC = evil.jsonb_agg_step, STYPE = jsonb);
CREATE FUNCTION evil.jsonb_object_agg_step(jsonb, text, anyelement) RETURNS jsonb LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('jsonb_object_agg');
             RETURN pg_catalog.jsonb_set(pg_catalog.coalesce($1, '{}'), ARRAY[$2], pg_catalog.to_jsonb($3)); END $$;
CREATE AGGREGATE evil.jsonb_object_agg(text, anyelement) (SFUNC = evil.jsonb_object_agg_step, STYPE = jsonb);
CREATE FUNCTION evil.string_agg_step(text, text, text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('string_agg');
             RETURN CASE WHEN $1 IS NULL THEN $2 ELSE pg_catalog.concat($1, $3, $2) END; END $$;
CREATE AGGREGATE evil.string_agg(text, text) (SFUNC = evil.string_agg_step, STYPE = text);
CREATE FUNCTION evil.sum_step(numeric, numeric) RETURNS numeric LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('sum'); RETURN pg_catalog.coalesce($1, 0) OPERATOR(pg_catalog.+) $2; END $$;
CREATE AGGREGATE evil.sum(numeric) (SFUNC = evil.sum_step, STYPE = numeric);
CREATE FUNCTION evil.sum_step(bigint, bigint) RETURNS bigint LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('sum'); RETURN pg_catalog.coalesce($1, 0) OPERATOR(pg_catalog.+) $2; END $$;
CREATE AGGREGATE evil.sum(bigint) (SFUNC = evil.sum_step, STYPE = bigint);
CREATE FUNCTION evil.sum_step(bigint, integer) RETURNS bigint LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('sum'); RETURN pg_catalog.coalesce($1, 0) OPERATOR(pg_catalog.+) $2; END $$;
CREATE AGGREGATE evil.sum(integer) (SFUNC = evil.sum_step, STYPE = bigint);
CREATE FUNCTION evil.max_step(anyelement, anyelement) RETURNS anyelement LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('max'); RETURN pg_catalog.greatest($1, $2); END $$;
CREATE AGGREGATE evil.max(anyelement) (SFUNC = evil.max_step, STYPE = anyelement);
CREATE FUNCTION evil.min_step(anyelement, anyelement) RETURNS anyelement LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('min'); RETURN pg_catalog.least($1, $2); END $$;
CREATE AGGREGATE evil.min(anyelement) (SFUNC = evil.min_step, STYPE = anyelement);
CREATE FUNCTION evil.bool_step(boolean, boolean) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('bool_and'); RETURN pg_catalog.coalesce($1, true) AND $2; END $$;
CREATE AGGREGATE evil.bool_and(boolean) (SFUNC = evil.bool_step, STYPE = boolean);
CREATE AGGREGATE evil.every(boolean) (SFUNC = evil.bool_step, STYPE = boolean);
CREATE FUNCTION evil.bool_or_step(boolean, boolean) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN PERFORM evil.note('bool_or'); RETURN pg_catalog.coalesce($1, false) OR $2; END $$;
CREATE AGGREGATE evil.bool_or(boolean) (SFUNC = evil.bool_or_step, STYPE = boolean);
