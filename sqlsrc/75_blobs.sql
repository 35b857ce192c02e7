-- Off-chain files: content-addressed blobs in chunks (docs/files.md,
-- src/blob.c).  A record's image, video or file item holds a file
-- reference {"sha256", "name", "media_type", "size"}; the bytes are here,
-- replicated to the blob's audience only (sqlsrc/50_replication.sql).
-- No foreign keys (sqlsrc/95_dump.sql).

CREATE TABLE tracelink.blobs (
    sha256       bytea PRIMARY KEY,
    origin       text COLLATE "C" NOT NULL,
    size         bigint NOT NULL,
    media_type   text,
    chunk_size   integer NOT NULL,
    chunk_count  integer NOT NULL,
    audience     text[] COLLATE "C",
    stored_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE tracelink.blobs IS
    'files held by this node: SHA-256 and size of the whole, its chunks in blob_chunks (docs/files.md)';
COMMENT ON COLUMN tracelink.blobs.origin IS 'the node that stored the file (it publishes the rows)';
COMMENT ON COLUMN tracelink.blobs.audience IS 'the nodes that receive the file, the origin among them; NULL: every peer';
COMMENT ON COLUMN tracelink.blobs.chunk_size IS 'bytes per chunk (the last is shorter): 1 MiB on every node';
COMMENT ON COLUMN tracelink.blobs.stored_at IS 'when the row was written on this node';

CREATE TABLE tracelink.blob_chunks (
    sha256        bytea NOT NULL,
    chunk_no      integer NOT NULL,
    origin        text COLLATE "C" NOT NULL,
    audience      text[] COLLATE "C",
    chunk_sha256  bytea NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (sha256, chunk_no)
);
-- chunks are mostly images and videos, compressed already: no attempts
ALTER TABLE tracelink.blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE tracelink.blob_chunks IS
    'the bytes of the files in tracelink.blobs, 1 MiB a chunk, each with its own SHA-256; read them with read_blob(), which checks them';
COMMENT ON COLUMN tracelink.blob_chunks.chunk_no IS 'position of the chunk in the file, from 0';
COMMENT ON COLUMN tracelink.blob_chunks.audience IS 'the blob''s audience (repeated so that the publication''s row filter can use it)';
COMMENT ON COLUMN tracelink.blob_chunks.chunk_sha256 IS 'SHA-256 of data';

-- Rows from peers: checked, quarantined or skipped if held (src/blob.c);
-- ALWAYS, since the apply worker runs in replica mode.
CREATE FUNCTION tracelink._blob_row_inserted() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tl_blob_row_inserted'
    LANGUAGE C;
COMMENT ON FUNCTION tracelink._blob_row_inserted() IS
    'rows of blobs and blob_chunks from peers: checked (chunk hashes, sizes, audience), refused ones quarantined, held ones skipped';
CREATE TRIGGER from_peers BEFORE INSERT ON tracelink.blobs
    FOR EACH ROW EXECUTE FUNCTION tracelink._blob_row_inserted();
CREATE TRIGGER from_peers BEFORE INSERT ON tracelink.blob_chunks
    FOR EACH ROW EXECUTE FUNCTION tracelink._blob_row_inserted();
ALTER TABLE tracelink.blobs ENABLE ALWAYS TRIGGER from_peers;
ALTER TABLE tracelink.blob_chunks ENABLE ALWAYS TRIGGER from_peers;

CREATE FUNCTION tracelink.store_blob(content oid, name text, media_type text DEFAULT NULL,
                                     audience text[] DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tl_store_blob'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.store_blob(oid, text, text, text[]) IS
    'stores the bytes of a large object as a blob (chunk by chunk; the large object is left to the caller) for the audience (NULL: every peer; this node always holds it) and returns the file reference to put in a record';

CREATE FUNCTION tracelink.read_blob(sha256 bytea) RETURNS SETOF bytea
    AS 'MODULE_PATHNAME', 'tl_read_blob'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 16;
COMMENT ON FUNCTION tracelink.read_blob(bytea) IS
    'the chunks of a blob in order, once every chunk, the size and the whole file''s SHA-256 have been checked (XX001 if corrupt, 42704 if not held); in a SELECT list one chunk at a time is in memory';

CREATE FUNCTION tracelink.blob_to_lo(sha256 bytea) RETURNS oid
    AS 'MODULE_PATHNAME', 'tl_blob_to_lo'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.blob_to_lo(bytea) IS
    'a new large object (owned by the caller) with the bytes of a blob, checked first as read_blob() checks them: for psql''s \lo_export';

-- Which blobs this node is entitled to hold: the file references among the
-- values it holds, public (records.data) and private (private_values).
-- Only file references are JSON objects among values, and the projector
-- has checked their shape.  (The one place to extend when other values
-- carry file references.)
CREATE FUNCTION tracelink._blob_references()
    RETURNS TABLE (sha256 text, name text, media_type text, size bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT DISTINCT x.value->>'sha256', x.value->>'name', x.value->>'media_type',
       (x.value->>'size')::numeric::bigint
  FROM (SELECT v.value FROM tracelink.records r, jsonb_each(r.data) v
        UNION ALL
        SELECT p.value FROM tracelink.private_values p) AS x(value)
 WHERE jsonb_typeof(x.value) = 'object' AND x.value ? 'sha256'
$$;
COMMENT ON FUNCTION tracelink._blob_references() IS
    'the file references (hex SHA-256, name, media type, size) among the values this node holds, public and private: the blobs it is entitled to';

-- SECURITY DEFINER: an auditor checks the blobs of private values too,
-- and sees only hashes and statuses, never bytes or values.
CREATE FUNCTION tracelink.verify_blobs() RETURNS TABLE (sha256 bytea, status text, detail text)
    AS 'MODULE_PATHNAME', 'tl_verify_blobs'
    LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION tracelink.verify_blobs() IS
    'every blob this node holds or is entitled to hold (file references of its trace records): ok, missing (not held, or chunks missing) or corrupt (a chunk or the whole that does not match its SHA-256), with the detail';

CREATE FUNCTION tracelink.fetch_blob(sha256 bytea, peer text DEFAULT NULL) RETURNS integer
    AS 'MODULE_PATHNAME', 'tl_fetch_blob'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.fetch_blob(bytea, text) IS
    'replaces the missing or corrupt chunks of a blob with verified ones from a peer (given, or the blob''s origin first, then the others) over this node''s subscription''s connection; returns how many chunks it replaced';

-- What a peer's fetch_blob() asks for: a blob's header and chunks, for the
-- nodes of its audience only.  The peer is told by its login
-- (peer_login_name()).
CREATE FUNCTION tracelink._serve_blob(sha256 bytea)
    RETURNS TABLE (size bigint, chunk_count integer, origin text, audience text[], media_type text)
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT b.size, b.chunk_count, b.origin, b.audience, b.media_type
  FROM tracelink.blobs b, tracelink.nodes n
 WHERE b.sha256 = _serve_blob.sha256
   AND NOT n.is_local AND tracelink.peer_login_name(n.name) = session_user
   AND (b.audience IS NULL OR n.name = ANY (b.audience))
$$;
COMMENT ON FUNCTION tracelink._serve_blob(bytea) IS
    'for a peer''s fetch_blob(): the header of a blob, if the peer logged in (session_user) is in its audience';

CREATE FUNCTION tracelink._serve_blob_chunk(sha256 bytea, chunk_no integer)
    RETURNS TABLE (chunk_sha256 bytea, data bytea)
    LANGUAGE sql STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT c.chunk_sha256, c.data
  FROM tracelink.blob_chunks c, tracelink.nodes n
 WHERE c.sha256 = _serve_blob_chunk.sha256 AND c.chunk_no = _serve_blob_chunk.chunk_no
   AND NOT n.is_local AND tracelink.peer_login_name(n.name) = session_user
   AND (c.audience IS NULL OR n.name = ANY (c.audience))
$$;
COMMENT ON FUNCTION tracelink._serve_blob_chunk(bytea, integer) IS
    'for a peer''s fetch_blob(): one chunk of a blob, if the peer logged in (session_user) is in its audience';

REVOKE ALL ON FUNCTION tracelink._serve_blob(bytea), tracelink._serve_blob_chunk(bytea, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION tracelink.store_blob(oid, text, text, text[]), tracelink.read_blob(bytea),
                       tracelink.blob_to_lo(bytea), tracelink.verify_blobs(),
                       tracelink.fetch_blob(bytea, text), tracelink._blob_references(),
                       tracelink._blob_row_inserted() FROM PUBLIC;
GRANT SELECT ON tracelink.blobs TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.store_blob(oid, text, text, text[]) TO tracelink_recorder, tracelink_member;
GRANT EXECUTE ON FUNCTION tracelink.read_blob(bytea), tracelink.blob_to_lo(bytea) TO tracelink_viewer;
GRANT EXECUTE ON FUNCTION tracelink.verify_blobs() TO tracelink_reader;
-- private values' references are private values: for the roles that see them
GRANT EXECUTE ON FUNCTION tracelink._blob_references() TO tracelink_viewer;
GRANT EXECUTE ON FUNCTION tracelink.fetch_blob(bytea, text) TO tracelink_admin;
