-- GS1 EPCIS 2.0 in and out (docs/epcis.md): the mapping of events to the
-- processes, stages and forms of a link, the import of EPCIS documents as
-- trace records, their export as EPCIS documents, and the query views.
--
-- An imported event becomes one record per EPC it names, at the mapped
-- stage, with source "external"; every such record holds the event's hash
-- ID in the item "event_id", and the first one of the event also holds the
-- event itself (canonical JSON) in the item "event".

-- Mapping (node-local configuration)

CREATE TABLE tracelink.epcis_mapping (
    link_id       bytea NOT NULL,
    biz_step      text NOT NULL DEFAULT '',
    read_point    text NOT NULL DEFAULT '',
    biz_location  text NOT NULL DEFAULT '',
    process       text NOT NULL,
    stage         text NOT NULL,
    form          text NOT NULL,
    PRIMARY KEY (link_id, biz_step, read_point, biz_location)
);
COMMENT ON TABLE tracelink.epcis_mapping IS
    'where imported EPCIS events of a link are recorded: by bizStep (bare CBV name) and readPoint / bizLocation LIKE patterns (empty: any); the most specific row wins (docs/epcis.md)';
COMMENT ON COLUMN tracelink.epcis_mapping.biz_step IS 'bare CBV business step ("shipping"), empty for any';
COMMENT ON COLUMN tracelink.epcis_mapping.read_point IS 'LIKE pattern over the readPoint id, empty for any';
COMMENT ON COLUMN tracelink.epcis_mapping.biz_location IS 'LIKE pattern over the bizLocation id, empty for any';
SELECT pg_catalog.pg_extension_config_dump('tracelink.epcis_mapping', '');

-- Streaming import: COPY one event (JSON) per line, then import_epcis_staged().
CREATE UNLOGGED TABLE tracelink.epcis_staging (
    id     bigserial PRIMARY KEY,
    event  jsonb NOT NULL
);
COMMENT ON TABLE tracelink.epcis_staging IS
    'EPCIS events to import in bulk, one JSON event per row (COPY-friendly, unlogged); tracelink.import_epcis_staged() imports and removes them in id order';
COMMENT ON SEQUENCE tracelink.epcis_staging_id_seq IS 'numbers staged events in the order they were loaded';
SELECT pg_catalog.pg_extension_config_dump('tracelink.epcis_staging', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.epcis_staging_id_seq', '');

-- Helpers

CREATE FUNCTION tracelink._epcis_link(link text) RETURNS bytea
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bytea[];
    one bytea;
BEGIN
    SELECT array_agg(l.link_id) INTO ids FROM tracelink.trace_links l WHERE l.name = link;
    IF cardinality(ids) = 1 THEN
        RETURN ids[1];
    END IF;
    IF cardinality(ids) > 1 THEN
        RAISE EXCEPTION 'link name "%" is ambiguous', link
            USING ERRCODE = 'ambiguous_parameter', HINT = 'Name the link by its id (hex).';
    END IF;
    SELECT l.link_id INTO one FROM tracelink.trace_links l
     WHERE link ~ '^[0-9a-f]{64}$' AND l.link_id = decode(link, 'hex');
    IF one IS NULL THEN
        RAISE EXCEPTION 'link "%" does not exist', link USING ERRCODE = 'undefined_object';
    END IF;
    RETURN one;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_link(text) IS 'the id of a link named by name or id (hex)';

CREATE FUNCTION tracelink._epcis_bare(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT regexp_replace(v, '^(urn:epcglobal:cbv:[a-z]+:|https://ref\.gs1\.org/cbv/[A-Za-z]+-)', '')
$$;
COMMENT ON FUNCTION tracelink._epcis_bare(text) IS
    'a CBV value without its URN or Web URI prefix: "urn:epcglobal:cbv:bizstep:shipping" and "https://ref.gs1.org/cbv/BizStep-shipping" give "shipping"';

CREATE FUNCTION tracelink._epcis_forms(link_id bytea,
    OUT ord bigint, OUT process text, OUT stage text, OUT form text)
    RETURNS SETOF record
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT row_number() OVER (ORDER BY p.ord, s.ord, f.position), tracelink.name(p.p), tracelink.name(s.s), f.name
  FROM tracelink.trace_links l
  JOIN tracelink.link_version_history h ON h.link_id = l.link_id AND h.version = l.active_version
 CROSS JOIN LATERAL tracelink.processes(h.definition) WITH ORDINALITY AS p(p, ord)
 CROSS JOIN LATERAL tracelink.stages(p.p) WITH ORDINALITY AS s(s, ord)
 CROSS JOIN LATERAL tracelink.forms(s.s) f
 WHERE l.link_id = $1
   AND f.items @> '[{"name": "event_id", "type": "text"}]'
   AND f.items @> '[{"name": "event", "type": "text"}]'
 ORDER BY 1
$$;
COMMENT ON FUNCTION tracelink._epcis_forms(bytea) IS
    'the EPCIS-capable forms (text items "event_id" and "event") of the link''s active version, in process, stage and form order';

CREATE FUNCTION tracelink._epcis_target(link_id bytea, biz_step text, read_point text, biz_location text,
    OUT process text, OUT stage text, OUT form text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT t.process, t.stage, t.form FROM (
    SELECT 0 AS k, (m.biz_step <> '')::int + (m.read_point <> '')::int + (m.biz_location <> '')::int AS spec,
           m.biz_step, m.read_point, m.biz_location, m.process, m.stage, m.form
      FROM tracelink.epcis_mapping m
     WHERE m.link_id = $1
       AND (m.biz_step = '' OR m.biz_step = coalesce($2, ''))
       AND (m.read_point = '' OR coalesce($3, '') LIKE m.read_point)
       AND (m.biz_location = '' OR coalesce($4, '') LIKE m.biz_location)
    UNION ALL
    (SELECT 1, 0, '', '', '', f.process, f.stage, f.form
       FROM tracelink._epcis_forms($1) f
      ORDER BY CASE WHEN coalesce($2, '') IN ('', 'commissioning', 'harvesting', 'creating_class_instance', 'encoding')
                    THEN f.ord ELSE -f.ord END
      LIMIT 1)
) t
ORDER BY t.k, t.spec DESC, t.biz_step DESC, t.read_point DESC, t.biz_location DESC
LIMIT 1
$$;
COMMENT ON FUNCTION tracelink._epcis_target(bytea, text, text, text) IS
    'where an event is recorded: the most specific matching row of tracelink.epcis_mapping, else the default (first EPCIS-capable form for commissioning, harvesting, creating_class_instance, encoding or no bizStep; the last one for any other bizStep)';

CREATE FUNCTION tracelink.set_epcis_mapping(link text, process text, stage text, form text,
                                           biz_step text DEFAULT NULL, read_point text DEFAULT NULL,
                                           biz_location text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    lid bytea := tracelink._epcis_link(link);
BEGIN
    IF NOT EXISTS (SELECT FROM tracelink._epcis_forms(lid) f
                    WHERE f.process = set_epcis_mapping.process AND f.stage = set_epcis_mapping.stage
                      AND f.form = set_epcis_mapping.form) THEN
        RAISE EXCEPTION 'form "%" of stage "%" of process "%" is not an EPCIS form of the active version of link "%"',
                        form, stage, process, link
            USING ERRCODE = 'undefined_object',
                  HINT = 'An EPCIS form has the text items "event_id" and "event" (docs/epcis.md).';
    END IF;
    INSERT INTO tracelink.epcis_mapping AS m (link_id, biz_step, read_point, biz_location, process, stage, form)
    VALUES (lid, coalesce(tracelink._epcis_bare(biz_step), ''), coalesce(read_point, ''), coalesce(biz_location, ''),
            set_epcis_mapping.process, set_epcis_mapping.stage, set_epcis_mapping.form)
    ON CONFLICT (link_id, biz_step, read_point, biz_location)
    DO UPDATE SET process = excluded.process, stage = excluded.stage, form = excluded.form;
END
$$;
COMMENT ON FUNCTION tracelink.set_epcis_mapping(text, text, text, text, text, text, text) IS
    'maps EPCIS events of a link (by bizStep, readPoint and bizLocation LIKE patterns; NULL: any) to an EPCIS form of its active version';

CREATE FUNCTION tracelink.clear_epcis_mapping(link text, biz_step text DEFAULT NULL, read_point text DEFAULT NULL,
                                             biz_location text DEFAULT NULL) RETURNS integer
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
AS $$
WITH d AS (
    DELETE FROM tracelink.epcis_mapping m
     WHERE m.link_id = tracelink._epcis_link($1)
       AND m.biz_step = coalesce(tracelink._epcis_bare($2), '')
       AND m.read_point = coalesce($3, '') AND m.biz_location = coalesce($4, '')
    RETURNING 1)
SELECT count(*)::integer FROM d
$$;
COMMENT ON FUNCTION tracelink.clear_epcis_mapping(text, text, text, text) IS
    'removes the mapping row of a link for exactly that bizStep, readPoint and bizLocation (NULL: the "any" row); returns how many rows went';

CREATE FUNCTION tracelink._epcis_list(event jsonb, epcs text, quantities text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT coalesce(jsonb_agg(x.item ORDER BY x.ord), '[]')
  FROM (SELECT DISTINCT ON (y.item->>'code') y.item, y.ord FROM (
          SELECT jsonb_build_object('code', e #>> '{}') AS item, o AS ord
            FROM jsonb_array_elements(CASE jsonb_typeof($1 -> $2) WHEN 'array' THEN $1 -> $2 ELSE '[]' END)
                 WITH ORDINALITY AS a(e, o)
          UNION ALL
          SELECT jsonb_build_object('code', q ->> 'epcClass')
                 || CASE WHEN jsonb_typeof(q -> 'quantity') = 'number' AND (q ->> 'quantity')::numeric > 0
                         THEN jsonb_strip_nulls(jsonb_build_object('quantity', q -> 'quantity', 'unit', q ->> 'uom'))
                         ELSE '{}' END, 1000000 + o
            FROM jsonb_array_elements(CASE jsonb_typeof($1 -> $3) WHEN 'array' THEN $1 -> $3 ELSE '[]' END)
                 WITH ORDINALITY AS a(q, o)) y
         ORDER BY y.item->>'code', y.ord) x
$$;
COMMENT ON FUNCTION tracelink._epcis_list(jsonb, text, text) IS
    'the codes an event lists under an EPC list and a quantity list, as record inputs ({"code", "quantity", "unit"}), first occurrence kept, in order';

CREATE FUNCTION tracelink._epcis_check(event jsonb, path text) RETURNS text[]
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := event ->> 'type';
    key text;
BEGIN
    IF jsonb_typeof(event) IS DISTINCT FROM 'object' THEN
        RETURN ARRAY[path, 'an event is a JSON object'];
    END IF;
    IF t IS NULL OR t NOT IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent', 'AssociationEvent', 'TransactionEvent') THEN
        RETURN ARRAY[path || '.type',
            format('unsupported event type %s', coalesce(event -> 'type', 'null'))];
    END IF;
    IF coalesce(event ->> 'eventTime', '') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$' THEN
        RETURN ARRAY[path || '.eventTime', 'eventTime is a date-time with its offset'];
    END IF;
    IF t <> 'TransformationEvent' AND (event ->> 'action') IS DISTINCT FROM 'ADD'
       AND (event ->> 'action') IS DISTINCT FROM 'OBSERVE' AND (event ->> 'action') IS DISTINCT FROM 'DELETE' THEN
        RETURN ARRAY[path || '.action', 'action is ADD, OBSERVE or DELETE'];
    END IF;
    FOREACH key IN ARRAY ARRAY['epcList', 'childEPCs', 'inputEPCList', 'outputEPCList',
                               'quantityList', 'childQuantityList', 'inputQuantityList', 'outputQuantityList'] LOOP
        IF event ? key AND (jsonb_typeof(event -> key) <> 'array'
            OR EXISTS (SELECT FROM jsonb_array_elements(event -> key) e
                        WHERE CASE WHEN key ILIKE '%QuantityList' THEN jsonb_typeof(e -> 'epcClass') IS DISTINCT FROM 'string'
                                   ELSE jsonb_typeof(e) <> 'string' END)) THEN
            RETURN ARRAY[path || '.' || key,
                CASE WHEN key ILIKE '%QuantityList' THEN 'a quantity list is an array of objects with an "epcClass" string'
                     ELSE 'an EPC list is an array of strings' END];
        END IF;
    END LOOP;
    IF event ? 'parentID' AND jsonb_typeof(event -> 'parentID') <> 'string' THEN
        RETURN ARRAY[path || '.parentID', 'parentID is a string'];
    END IF;
    IF event ? 'readPoint' AND jsonb_typeof(event #> '{readPoint,id}') IS DISTINCT FROM 'string' THEN
        RETURN ARRAY[path || '.readPoint', 'readPoint is an object with an "id" string'];
    END IF;
    IF event ? 'bizLocation' AND jsonb_typeof(event #> '{bizLocation,id}') IS DISTINCT FROM 'string' THEN
        RETURN ARRAY[path || '.bizLocation', 'bizLocation is an object with an "id" string'];
    END IF;
    IF event ? 'bizStep' AND jsonb_typeof(event -> 'bizStep') <> 'string' THEN
        RETURN ARRAY[path || '.bizStep', 'bizStep is a string'];
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_check(jsonb, text) IS
    'the first problem (JSON path, message), or NULL, of an event whose structure the import cannot map: type, eventTime, action, EPC and quantity lists, parentID, readPoint, bizLocation, bizStep';

CREATE FUNCTION tracelink._epcis_records(event jsonb, event_id text, process text, stage text, form text)
    RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text := event ->> 'type';
    base jsonb := jsonb_build_object('process', process, 'stage', stage, 'form', form, 'source', 'external',
                                     'occurred_at', event ->> 'eventTime');
    subjects jsonb;
    inputs jsonb := '[]';
    tops jsonb := '[]';
    recs jsonb;
BEGIN
    IF t IN ('ObjectEvent', 'TransactionEvent') THEN
        subjects := tracelink._epcis_list(event, 'epcList', 'quantityList');
        IF t = 'TransactionEvent' AND event ? 'parentID' THEN
            subjects := jsonb_build_array(jsonb_build_object('code', event ->> 'parentID')) || subjects;
        END IF;
        IF subjects = '[]' AND event ? 'readPoint' THEN
            subjects := jsonb_build_array(jsonb_build_object('code', event #>> '{readPoint,id}'));
        END IF;
    ELSIF t IN ('AggregationEvent', 'AssociationEvent') THEN
        subjects := tracelink._epcis_list(event, 'childEPCs', 'childQuantityList');
        IF event ? 'parentID' THEN
            tops := jsonb_build_array(jsonb_build_object('code', event ->> 'parentID'));
            IF t = 'AggregationEvent' AND event ->> 'action' = 'ADD' THEN
                inputs := subjects;
            END IF;
        END IF;
    ELSE
        subjects := tracelink._epcis_list(event, 'inputEPCList', 'inputQuantityList');
        tops := (SELECT coalesce(jsonb_agg(jsonb_build_object('code', o ->> 'code') ORDER BY n), '[]')
                   FROM jsonb_array_elements(tracelink._epcis_list(event, 'outputEPCList', 'outputQuantityList'))
                        WITH ORDINALITY AS a(o, n));
        inputs := subjects;
    END IF;
    -- a code listed both as a subject and at the top is recorded once, at the top
    IF tops <> '[]' THEN
        subjects := (SELECT coalesce(jsonb_agg(s ORDER BY n), '[]')
                       FROM jsonb_array_elements(subjects) WITH ORDINALITY AS a(s, n)
                      WHERE NOT tops @> jsonb_build_array(jsonb_build_object('code', s ->> 'code')));
        IF inputs <> '[]' THEN
            inputs := (SELECT coalesce(jsonb_agg(s ORDER BY n), '[]')
                         FROM jsonb_array_elements(inputs) WITH ORDINALITY AS a(s, n)
                        WHERE NOT tops @> jsonb_build_array(jsonb_build_object('code', s ->> 'code')));
        END IF;
    END IF;
    -- the first record holds the event
    SELECT jsonb_agg(base || jsonb_build_object('code', r.code, 'data',
                         CASE WHEN r.rn = 1 THEN jsonb_build_object('event_id', event_id, 'event', event::text)
                              ELSE jsonb_build_object('event_id', event_id) END) || r.extra ORDER BY r.n)
      INTO recs
      FROM (SELECT u.code, u.extra, u.n, row_number() OVER (ORDER BY u.n) AS rn
              FROM (SELECT s ->> 'code' AS code, '{}'::jsonb AS extra, n
                      FROM jsonb_array_elements(subjects) WITH ORDINALITY AS a(s, n)
                    UNION ALL
                    SELECT o ->> 'code', CASE WHEN inputs = '[]' THEN '{}' ELSE jsonb_build_object('inputs', inputs) END,
                           1000000 + n
                      FROM jsonb_array_elements(tops) WITH ORDINALITY AS a(o, n)) u) r;
    RETURN recs;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_records(jsonb, text, text, text, text) IS
    'the records of one event (docs/epcis.md): a record per EPC or class it names, the parent / outputs last with the consumed codes as inputs; the first record holds the event; NULL when it names no code';

-- Import

CREATE FUNCTION tracelink._epcis_flush(link text, batch jsonb[], batch_events integer[], list_path text)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec_no integer;
    ctx text;
    st text;
    msg text;
BEGIN
    RETURN tracelink.record_batch(link, to_jsonb(batch));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    rec_no := substring(ctx FROM 'trace record ([0-9]+) of the batch')::integer;
    IF rec_no IS NULL THEN
        RAISE;
    END IF;
    RAISE EXCEPTION 'EPCIS document refused: event % at %[%]: %', batch_events[rec_no], list_path,
                    batch_events[rec_no], msg
        USING ERRCODE = st, DETAIL = 'Nothing of the document was imported.';
END
$$;
COMMENT ON FUNCTION tracelink._epcis_flush(text, jsonb[], integer[], text) IS
    'records a chunk of an import with record_batch(); a refused record is reported as the refusal of its event (index, path)';

CREATE FUNCTION tracelink._epcis_import(event_list jsonb, context jsonb, link text, list_path text, first_index integer,
    OUT events integer, OUT imported integer, OUT duplicates integer, OUT records integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lid bytea := tracelink._epcis_link(link);
    ev jsonb;
    idx integer := first_index - 1;
    path text;
    id text;
    problem text[];
    targets jsonb := '{}';
    slots integer[];
    tkey text;
    tp text;
    ts text;
    tf text;
    recs jsonb;
    one jsonb;
    batch jsonb[] := '{}';
    batch_events integer[] := '{}';
    seen text[] := '{}';
    chunk integer := 500;
BEGIN
    events := 0;
    imported := 0;
    duplicates := 0;
    records := 0;
    -- imports on one node take turns, so that an event is recognised by its ID
    PERFORM pg_advisory_xact_lock(1951549746, 13);
    slots := ARRAY(SELECT s.slot_id FROM tracelink.record_slots s WHERE s.link_id = lid);
    FOR ev IN SELECT e FROM jsonb_array_elements(event_list) e LOOP
        idx := idx + 1;
        events := events + 1;
        path := list_path || '[' || idx || ']';
        problem := tracelink._epcis_check(ev, path);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'EPCIS document refused: event % at %: %', idx, problem[1], problem[2]
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing of the document was imported.';
        END IF;
        IF context IS NOT NULL AND NOT ev ? '@context' THEN
            ev := ev || jsonb_build_object('@context', context);
        END IF;
        id := tracelink.epcis_event_hash(ev);
        -- by the event ID index first (OFFSET 0 keeps the planner from
        -- reading all the link's records instead), then the link's slots
        IF id = ANY (seen) OR EXISTS (
               SELECT FROM (SELECT r.slot_id FROM tracelink.records r
                             WHERE (r.data ->> 'event_id') = id AND r.data ? 'event_id' OFFSET 0) x
                WHERE x.slot_id = ANY (slots)) THEN
            duplicates := duplicates + 1;
            CONTINUE;
        END IF;
        seen := array_append(seen, id);
        -- targets looked up once per (bizStep, readPoint, bizLocation) of the import
        tkey := jsonb_build_array(ev -> 'bizStep', ev #> '{readPoint,id}', ev #> '{bizLocation,id}')::text;
        IF NOT targets ? tkey THEN
            SELECT t.process, t.stage, t.form INTO tp, ts, tf
              FROM tracelink._epcis_target(lid, tracelink._epcis_bare(ev ->> 'bizStep'),
                                           ev #>> '{readPoint,id}', ev #>> '{bizLocation,id}') t;
            targets := targets || jsonb_build_object(tkey, jsonb_build_array(tp, ts, tf));
        END IF;
        tp := targets -> tkey ->> 0;
        ts := targets -> tkey ->> 1;
        tf := targets -> tkey ->> 2;
        IF tp IS NULL THEN
            RAISE EXCEPTION 'EPCIS document refused: event % at %.bizStep: no mapping and no EPCIS form (text items "event_id" and "event") in the active version of link "%"',
                            idx, path, link
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing of the document was imported.';
        END IF;
        recs := tracelink._epcis_records(ev, id, tp, ts, tf);
        IF recs IS NULL THEN
            RAISE EXCEPTION 'EPCIS document refused: event % at %: the event names no EPC, class or readPoint to record it under',
                            idx, path
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Nothing of the document was imported.';
        END IF;
        FOR one IN SELECT jsonb_array_elements(recs) LOOP
            batch := array_append(batch, one);
            batch_events := array_append(batch_events, idx);
        END LOOP;
        imported := imported + 1;
        -- events of earlier chunks are found in tracelink.records; "seen"
        -- holds the current chunk's only
        IF cardinality(batch) >= chunk THEN
            records := records + tracelink._epcis_flush(link, batch, batch_events, list_path);
            batch := '{}';
            batch_events := '{}';
            seen := '{}';
            slots := ARRAY(SELECT s.slot_id FROM tracelink.record_slots s WHERE s.link_id = lid);
        END IF;
    END LOOP;
    IF cardinality(batch) > 0 THEN
        records := records + tracelink._epcis_flush(link, batch, batch_events, list_path);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._epcis_import(jsonb, jsonb, text, text, integer) IS
    'imports a JSON array of EPCIS events (context: the document''s @context, given to events without their own) into a link; shared by import_epcis() and import_epcis_staged()';

CREATE FUNCTION tracelink.import_epcis(doc jsonb, link text,
    OUT events integer, OUT imported integer, OUT duplicates integer, OUT records integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    list_path text;
    list jsonb;
    p record;
    i integer;
BEGIN
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'EPCIS document refused: a document is a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF doc ->> 'type' = 'EPCISDocument' THEN
        list_path := '$.epcisBody.eventList';
        list := doc #> '{epcisBody,eventList}';
    ELSIF doc ->> 'type' = 'EPCISQueryDocument' THEN
        list_path := '$.epcisBody.queryResults.resultsBody.eventList';
        list := doc #> '{epcisBody,queryResults,resultsBody,eventList}';
    ELSE
        RAISE EXCEPTION 'EPCIS document refused at $.type: not "EPCISDocument" or "EPCISQueryDocument"'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (doc ->> 'schemaVersion') IS DISTINCT FROM '2.0' THEN
        RAISE EXCEPTION 'EPCIS document refused at $.schemaVersion: only "2.0" is supported'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(list) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'EPCIS document refused at %: the event list is missing or not an array', list_path
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the GS1 JSON schema, when the operator has loaded it (docs/epcis.md)
    IF EXISTS (SELECT FROM tracelink.epcis_schema) THEN
        SELECT sp.path, sp.problem INTO p FROM tracelink.epcis_schema_problems(doc, 1) sp;
        IF p.path IS NOT NULL THEN
            i := substring(p.path FROM 'eventList\[([0-9]+)\]')::integer;
            IF i IS NULL THEN
                RAISE EXCEPTION 'EPCIS document refused at %: %', p.path, p.problem
                    USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The document does not satisfy the GS1 EPCIS JSON schema.';
            END IF;
            RAISE EXCEPTION 'EPCIS document refused: event % at %: %', i, p.path, p.problem
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The document does not satisfy the GS1 EPCIS JSON schema; nothing of it was imported.';
        END IF;
    END IF;
    SELECT * INTO events, imported, duplicates, records
      FROM tracelink._epcis_import(list, doc -> '@context', link, list_path, 0);
END
$$;
COMMENT ON FUNCTION tracelink.import_epcis(jsonb, text) IS
    'imports an EPCIS 2.0 document''s events as trace records of the link in this transaction (docs/epcis.md); an event already imported (same event hash ID) is skipped; any refusal refuses the whole document with the event''s index and JSON path';

CREATE FUNCTION tracelink.import_epcis_staged(link text, context jsonb DEFAULT NULL,
    OUT events integer, OUT imported integer, OUT duplicates integer, OUT records integer)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_id bigint;
    last_id bigint;
    from_id bigint;
    part record;
    step integer := 10000;
BEGIN
    LOCK TABLE tracelink.epcis_staging IN SHARE ROW EXCLUSIVE MODE;
    SELECT min(id), max(id) INTO first_id, last_id FROM tracelink.epcis_staging;
    events := 0;
    imported := 0;
    duplicates := 0;
    records := 0;
    from_id := first_id;
    WHILE from_id <= last_id LOOP
        SELECT * INTO part FROM tracelink._epcis_import(
            (SELECT jsonb_agg(s.event ORDER BY s.id) FROM tracelink.epcis_staging s
              WHERE s.id >= from_id AND s.id < from_id + step),
            context, link, 'tracelink.epcis_staging', events) p
         WHERE EXISTS (SELECT FROM tracelink.epcis_staging s WHERE s.id >= from_id AND s.id < from_id + step);
        IF FOUND THEN
            events := events + part.events;
            imported := imported + part.imported;
            duplicates := duplicates + part.duplicates;
            records := records + part.records;
        END IF;
        from_id := from_id + step;
    END LOOP;
    DELETE FROM tracelink.epcis_staging s WHERE s.id <= last_id;
END
$$;
COMMENT ON FUNCTION tracelink.import_epcis_staged(text, jsonb) IS
    'imports the events of tracelink.epcis_staging (in id order, 10000 at a time, all in this transaction; context: the document''s @context) and removes them; any refusal refuses all and leaves them staged (events are numbered from 0 in id order)';

-- Query views

CREATE INDEX records_epcis_event_id ON tracelink.records ((data ->> 'event_id')) WHERE data ? 'event_id';
CREATE INDEX records_epcis_biz_step ON tracelink.records (tracelink._epcis_bare((data ->> 'event')::jsonb ->> 'bizStep'))
    WHERE data ? 'event';
CREATE INDEX records_epcis_disposition ON tracelink.records (tracelink._epcis_bare((data ->> 'event')::jsonb ->> 'disposition'))
    WHERE data ? 'event';
CREATE INDEX records_epcis_read_point ON tracelink.records (((data ->> 'event')::jsonb #>> '{readPoint,id}'))
    WHERE data ? 'event';
CREATE INDEX records_epcis_biz_location ON tracelink.records (((data ->> 'event')::jsonb #>> '{bizLocation,id}'))
    WHERE data ? 'event';

CREATE VIEW tracelink.epcis_imported_events AS
SELECT r.data ->> 'event_id' AS event_id, l.name AS link, (r.data ->> 'event')::jsonb AS event,
       ((r.data ->> 'event')::jsonb ->> 'type') AS event_type,
       tracelink._epcis_bare((r.data ->> 'event')::jsonb ->> 'bizStep') AS biz_step,
       tracelink._epcis_bare((r.data ->> 'event')::jsonb ->> 'disposition') AS disposition,
       ((r.data ->> 'event')::jsonb #>> '{readPoint,id}') AS read_point,
       ((r.data ->> 'event')::jsonb #>> '{bizLocation,id}') AS biz_location,
       r.occurred_at AS event_time, s.origin AS node, r.recorded_at, r.entry_hash, r.position,
       EXISTS (SELECT FROM tracelink.records r2 JOIN tracelink.record_slots s2 ON s2.slot_id = r2.slot_id
                WHERE (r2.data ->> 'event_id') = (r.data ->> 'event_id') AND r2.data ? 'event_id' AND r2.data ? 'event'
                  AND s2.link_id = s.link_id
                  AND (r2.recorded_at, r2.entry_hash, r2.position) < (r.recorded_at, r.entry_hash, r.position)) AS duplicate,
       s.link_id
  FROM tracelink.records r
  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
  JOIN tracelink.trace_links l ON l.link_id = s.link_id
 WHERE r.data ? 'event' AND r.data ? 'event_id';
COMMENT ON VIEW tracelink.epcis_imported_events IS
    'every imported EPCIS event as its records hold it; an event imported on several nodes is kept by the lowest-ranked record (recorded_at, entry_hash, position): the others have duplicate = true';

CREATE VIEW tracelink.epcis_event_index AS
SELECT c.code AS epc, e.event_type, e.biz_step, e.disposition, e.read_point, e.biz_location, e.event_time,
       e.event_id, e.entry_hash, e.position, e.link, e.node, e.link_id
  FROM tracelink.epcis_imported_events e
  JOIN tracelink.records r ON (r.data ->> 'event_id') = e.event_id AND r.data ? 'event_id'
  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id AND s.link_id = e.link_id AND s.origin = e.node
  JOIN tracelink.codes c ON c.code_id = r.code_id
 WHERE NOT e.duplicate;
COMMENT ON VIEW tracelink.epcis_event_index IS
    'one row per EPC of every imported EPCIS event (duplicates left out): epc, event_type, biz_step, disposition, read_point, biz_location, event_time, event_id and where the event is on the ledger (entry_hash, position)';

-- Export

CREATE FUNCTION tracelink._epcis_ledger(node text, entry_hash bytea, "position" integer, link text,
                                       recorded_at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object('origin', $1, 'entryHash', encode($2, 'hex'), 'position', $3, 'link', $4,
                          'recordedAt', tracelink._utc($5),
                          'block', (SELECT e.tx FROM tracelink.ledger_entries e
                                     WHERE e.entry_hash = $2 AND e.origin = $1 LIMIT 1))
$$;
COMMENT ON FUNCTION tracelink._epcis_ledger(text, bytea, integer, text, timestamptz) IS
    'the ledger facts of a record for the "tl:ledger" field of an exported event: origin node, entry hash, position, link, recording time, block (the origin''s tx); record_proof(entry_hash, position) proves it';

CREATE FUNCTION tracelink._epcis_out(event jsonb, event_id text, ledger jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT ($1 - 'eventID') || jsonb_build_object('eventID', $2, 'tl:ledger',
          $3 || CASE WHEN $1 ? 'eventID' AND ($1 ->> 'eventID') <> $2
                     THEN jsonb_build_object('sourceEventID', $1 -> 'eventID') ELSE '{}' END)
$$;
COMMENT ON FUNCTION tracelink._epcis_out(jsonb, text, jsonb) IS
    'an event as exported: eventID = its event hash ID, the ledger facts (and an imported event''s own eventID, when it was not the hash) under "tl:ledger"';

CREATE FUNCTION tracelink._epcis_code_uri(code text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN $1 ~ '^[A-Za-z][A-Za-z0-9+.-]*:[^ ]+$' THEN $1
            ELSE 'urn:tracelink:code:' || replace(replace(replace($1, '%', '%25'), ' ', '%20'), '"', '%22') END
$$;
COMMENT ON FUNCTION tracelink._epcis_code_uri(text) IS
    'a trace code as an EPC URI: itself when it is a URI, else urn:tracelink:code: and the code (%, space and " percent-encoded)';

CREATE FUNCTION tracelink._epcis_record_event(code_id bigint, entry_hash bytea, "position" integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    ev jsonb;
    inputs jsonb;
BEGIN
    SELECT r0.data, r0.occurred_at, r0.recorded_at, s.origin, s.link_id, s.process, s.stage, s.form, l.name AS link,
           c.code
      INTO r
      FROM tracelink.records r0
      JOIN tracelink.record_slots s ON s.slot_id = r0.slot_id
      JOIN tracelink.trace_links l ON l.link_id = s.link_id
      JOIN tracelink.codes c ON c.code_id = r0.code_id
     WHERE r0.code_id = $1 AND r0.entry_hash = $2 AND r0.position = $3;
    IF r.data ? 'event_id' THEN
        SELECT tracelink._epcis_out(e.event, e.event_id,
                                    tracelink._epcis_ledger(e.node, e.entry_hash, e.position, e.link, e.recorded_at))
          INTO ev
          FROM tracelink.epcis_imported_events e
         WHERE e.event_id = (r.data ->> 'event_id') AND e.link_id = r.link_id AND NOT e.duplicate;
        RETURN ev;
    END IF;
    SELECT coalesce(jsonb_agg(tracelink._epcis_code_uri(p.code) ORDER BY p.code), '[]')
      INTO inputs
      FROM tracelink.transformations t JOIN tracelink.codes p ON p.code_id = t.parent_id
     WHERE t.child_id = $1 AND t.entry_hash = $2 AND t.position = $3;
    -- a record made of inputs is a transformation; any other an observation
    IF jsonb_array_length(inputs) > 0 THEN
        ev := jsonb_build_object(
            'type', 'TransformationEvent',
            'eventTime', tracelink._utc(r.occurred_at),
            'eventTimeZoneOffset', '+00:00',
            'inputEPCList', inputs,
            'outputEPCList', jsonb_build_array(tracelink._epcis_code_uri(r.code)));
    ELSE
        ev := jsonb_build_object(
            'type', 'ObjectEvent',
            'eventTime', tracelink._utc(r.occurred_at),
            'eventTimeZoneOffset', '+00:00',
            'epcList', jsonb_build_array(tracelink._epcis_code_uri(r.code)),
            'action', 'OBSERVE');
    END IF;
    ev := ev || jsonb_build_object(
        'tl:record', jsonb_build_object(
            'code', r.code, 'process', r.process, 'stage', r.stage, 'form', r.form, 'data', r.data,
            'inputs', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('code', p.code, 'quantity', t.quantity, 'unit', t.unit))
                                                ORDER BY p.code), '[]')
                         FROM tracelink.transformations t JOIN tracelink.codes p ON p.code_id = t.parent_id
                        WHERE t.child_id = $1 AND t.entry_hash = $2 AND t.position = $3),
            'outputs', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('code', ch.code, 'quantity', t.quantity, 'unit', t.unit))
                                                 ORDER BY ch.code), '[]')
                          FROM tracelink.transformations t JOIN tracelink.codes ch ON ch.code_id = t.child_id
                         WHERE t.parent_id = $1 AND t.entry_hash = $2 AND t.position = $3)));
    RETURN tracelink._epcis_out(ev, tracelink.epcis_event_hash(ev),
                                tracelink._epcis_ledger(r.origin, $2, $3, r.link, r.recorded_at));
END
$$;
COMMENT ON FUNCTION tracelink._epcis_record_event(bigint, bytea, integer) IS
    'the exported event of one record: its imported event (the kept copy), else a TransformationEvent (inputs to the code) or an ObjectEvent of the code, with the record under "tl:record"';

CREATE FUNCTION tracelink._epcis_document(events jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    '@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
                                  jsonb_build_object('tl', 'urn:tracelink:epcis:')),
    'type', 'EPCISDocument',
    'schemaVersion', '2.0',
    'creationDate', coalesce((SELECT max(e #>> '{tl:ledger,recordedAt}') FROM jsonb_array_elements($1) e),
                             '1970-01-01T00:00:00.000000Z'),
    'epcisBody', jsonb_build_object('eventList', $1))
$$;
COMMENT ON FUNCTION tracelink._epcis_document(jsonb) IS
    'an EPCIS 2.0 document of exported events; creationDate is the latest recording time among them, so that every node makes the same document';

CREATE FUNCTION tracelink.epcis_document(code text, link text DEFAULT NULL) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT tracelink._epcis_document(coalesce(jsonb_agg(x.ev ORDER BY x.ev ->> 'eventTime', x.ev ->> 'eventID'), '[]'))
  FROM (SELECT DISTINCT tracelink._epcis_record_event(c.code_id, t.entry_hash, t.position) AS ev
          FROM tracelink.trace($1, $2) t
          JOIN tracelink.codes c ON c.code = t.code
          JOIN tracelink.trace_links l ON l.link_id = c.link_id AND l.name = t.link) x
$$;
COMMENT ON FUNCTION tracelink.epcis_document(text, text) IS
    'the provenance of a trace code (tracelink.trace) as an EPCIS 2.0 JSON-LD document: each event once, eventID its event hash ID, ledger facts under "tl:ledger"';

CREATE FUNCTION tracelink.epcis_query(params jsonb DEFAULT '{}')
    RETURNS TABLE (event_id text, event_time timestamptz, event jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    known text[] := ARRAY['link', 'MATCH_epc', 'EQ_bizStep', 'EQ_disposition', 'EQ_readPoint', 'EQ_bizLocation',
                          'GE_eventTime', 'LT_eventTime', 'eventType'];
    lists text[] := ARRAY['MATCH_epc', 'EQ_bizStep', 'EQ_disposition', 'EQ_readPoint', 'EQ_bizLocation', 'eventType'];
    v jsonb;
    vals text[];
    ids text[];
    steps text[];
    disps text[];
    rps text[];
    bls text[];
    types text[];
    lid bytea;
    conds text := '';
BEGIN
    IF jsonb_typeof(params) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'EPCIS query parameters are a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(params) LOOP
        IF NOT k = ANY (known) THEN
            RAISE EXCEPTION 'unsupported EPCIS query parameter "%"', k
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Supported: ' || array_to_string(known, ', ') || '.';
        END IF;
        IF k = ANY (lists) THEN
            IF jsonb_typeof(v) = 'string' THEN
                v := jsonb_build_array(v);
            END IF;
            IF jsonb_typeof(v) IS DISTINCT FROM 'array'
               OR EXISTS (SELECT FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string') THEN
                RAISE EXCEPTION 'EPCIS query parameter "%" is a string or an array of strings', k
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            vals := ARRAY(SELECT jsonb_array_elements_text(v));
            CASE k
                WHEN 'MATCH_epc' THEN
                    -- the events naming these codes, through the trace-code index
                    ids := ARRAY(SELECT DISTINCT i.event_id FROM tracelink.epcis_event_index i WHERE i.epc = ANY (vals));
                    conds := conds || ' AND e.event_id = ANY ($1)';
                WHEN 'EQ_bizStep' THEN
                    steps := ARRAY(SELECT tracelink._epcis_bare(x) FROM unnest(vals) x);
                    conds := conds || ' AND e.biz_step = ANY ($2)';
                WHEN 'EQ_disposition' THEN
                    disps := ARRAY(SELECT tracelink._epcis_bare(x) FROM unnest(vals) x);
                    conds := conds || ' AND e.disposition = ANY ($3)';
                WHEN 'EQ_readPoint' THEN
                    rps := vals;
                    conds := conds || ' AND e.read_point = ANY ($4)';
                WHEN 'EQ_bizLocation' THEN
                    bls := vals;
                    conds := conds || ' AND e.biz_location = ANY ($5)';
                ELSE
                    types := vals;
                    conds := conds || ' AND e.event_type = ANY ($6)';
            END CASE;
        END IF;
    END LOOP;
    IF params ? 'link' THEN
        lid := tracelink._epcis_link(params ->> 'link');
        conds := conds || ' AND e.link_id = $7';
    END IF;
    IF params ? 'GE_eventTime' THEN
        conds := conds || ' AND e.event_time >= $8';
    END IF;
    IF params ? 'LT_eventTime' THEN
        conds := conds || ' AND e.event_time < $9';
    END IF;
    -- only the conditions given, so that the planner uses their indexes
    RETURN QUERY EXECUTE
        'SELECT e.event_id, e.event_time,
                tracelink._epcis_out(e.event, e.event_id,
                                     tracelink._epcis_ledger(e.node, e.entry_hash, e.position, e.link, e.recorded_at))
           FROM tracelink.epcis_imported_events e
          WHERE NOT e.duplicate' || conds || '
          ORDER BY e.event_time, e.event_id'
        USING ids, steps, disps, rps, bls, types, lid,
              (params ->> 'GE_eventTime')::timestamptz, (params ->> 'LT_eventTime')::timestamptz;
END
$$;
COMMENT ON FUNCTION tracelink.epcis_query(jsonb) IS
    'imported EPCIS events (duplicates left out) matching EPCIS query parameters: link, MATCH_epc (any EPC of the event), EQ_bizStep, EQ_disposition, EQ_readPoint, EQ_bizLocation, eventType (a string or an array), GE_eventTime, LT_eventTime; as exported, by event time';

CREATE FUNCTION tracelink.epcis_events(params jsonb DEFAULT '{}') RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT tracelink._epcis_document(coalesce(jsonb_agg(q.event ORDER BY q.event_time, q.event_id), '[]'))
  FROM tracelink.epcis_query($1) q
$$;
COMMENT ON FUNCTION tracelink.epcis_events(jsonb) IS
    'the imported EPCIS events matching tracelink.epcis_query(params) as one EPCIS 2.0 JSON-LD document';

-- Privileges

GRANT SELECT ON tracelink.epcis_mapping, tracelink.epcis_imported_events, tracelink.epcis_event_index
    TO tracelink_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON tracelink.epcis_mapping TO tracelink_admin;
GRANT SELECT, INSERT, DELETE ON tracelink.epcis_staging TO tracelink_member;
GRANT USAGE ON SEQUENCE tracelink.epcis_staging_id_seq TO tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink._epcis_link(text), tracelink._epcis_bare(text),
                 tracelink._epcis_ledger(text, bytea, integer, text, timestamptz),
                 tracelink._epcis_out(jsonb, text, jsonb), tracelink._epcis_code_uri(text),
                 tracelink._epcis_record_event(bigint, bytea, integer), tracelink._epcis_document(jsonb),
                 tracelink.epcis_document(text, text), tracelink.epcis_query(jsonb), tracelink.epcis_events(jsonb)
    TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink._epcis_forms(bytea), tracelink._epcis_target(bytea, text, text, text),
                 tracelink._epcis_list(jsonb, text, text),
                 tracelink._epcis_check(jsonb, text),
                 tracelink._epcis_records(jsonb, text, text, text, text),
                 tracelink._epcis_import(jsonb, jsonb, text, text, integer),
                 tracelink._epcis_flush(text, jsonb[], integer[], text),
                 tracelink.import_epcis(jsonb, text), tracelink.import_epcis_staged(text, jsonb)
    TO tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink.set_epcis_mapping(text, text, text, text, text, text, text),
                 tracelink.clear_epcis_mapping(text, text, text, text)
    TO tracelink_admin;
