-- GS1 CBV 2.0 "Event Hash ID" of one EPCIS 2.0 JSON/JSON-LD event (src/epcis_hash.c).

CREATE FUNCTION tracelink.epcis_prehash(event jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_epcis_prehash_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.epcis_prehash(jsonb) IS
    'Canonical pre-hash string of one EPCIS 2.0 event (GS1 CBV 2.0 Event Hash ID): canonical field order, GS1 keys as Digital Link, times in UTC with milliseconds, sorted lists and extensions; namespaces from the event''s @context';

CREATE FUNCTION tracelink.epcis_event_hash(event jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_epcis_event_hash_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.epcis_event_hash(jsonb) IS
    'GS1 CBV 2.0 Event Hash ID of one EPCIS 2.0 event: ni:///sha-256;<hex>?ver=CBV2.0 over its pre-hash string';

GRANT EXECUTE ON FUNCTION tracelink.epcis_prehash(jsonb), tracelink.epcis_event_hash(jsonb) TO tracelink_reader;
