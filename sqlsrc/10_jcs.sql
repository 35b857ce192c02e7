-- Canonical JSON (RFC 8785) and SHA-256 digests over it.

CREATE FUNCTION tracelink.jcs(text) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_jcs_text'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.jcs(text) IS
    'RFC 8785 canonical form of JSON text: members sorted by UTF-16 code units, ECMAScript number formatting, minimal escaping; refuses duplicate keys, lone surrogates and numbers outside IEEE-754 double';

CREATE FUNCTION tracelink.jcs(jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'tl_jcs_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.jcs(jsonb) IS
    'RFC 8785 canonical form of a jsonb value';

CREATE FUNCTION tracelink.digest(jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_digest_jsonb'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.digest(jsonb) IS
    'SHA-256 of the RFC 8785 canonical bytes of a jsonb value';

GRANT EXECUTE ON FUNCTION tracelink.jcs(text), tracelink.jcs(jsonb), tracelink.digest(jsonb) TO tracelink_reader;
