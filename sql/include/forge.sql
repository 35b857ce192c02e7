-- Forged ledger rows, for tests (not part of the extension).
--
-- A rogue node signs whatever it likes.  forge_block() builds the next block
-- of a chain whose signing seed it holds, with the entries it is given,
-- valid or broken on purpose, and inserts the rows into this node's ledger
-- tables (their triggers must be disabled, as a superuser can).  On a rogue
-- node the rows are then published to its peers like any other; on an
-- honest node they are "tampering at rest" for verify().  forge_chain keeps
-- the state of each forged chain: the key that signs its next block, its
-- number, the previous block's hash, every entry hash so far.
CREATE TABLE forge_chain (
    origin      text PRIMARY KEY,
    seed        bytea NOT NULL,
    next_block  bigint NOT NULL DEFAULT 0,
    prev_hash   bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    leaves      bytea[] NOT NULL DEFAULT '{}',
    next_tx     bigint NOT NULL DEFAULT 1
);

-- Block rows built but held back (opts "hold"), to be sent later, out of
-- order: INSERT INTO tracelink.ledger_blocks SELECT (b).* FROM forge_held ...
CREATE TABLE forge_held (origin text, block_no bigint, b tracelink.ledger_blocks);

-- The preimage (export line) of an entry whose payload is the given text,
-- JSON or not, canonical or not; deps in the order given.
CREATE FUNCTION forge_preimage(p_origin text, p_tx bigint, p_seq int, p_kind text, p_payload text,
                               p_deps bytea[], p_audience text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"audience":'
        || CASE WHEN p_audience IS NULL THEN 'null'
                ELSE '[' || coalesce((SELECT string_agg(to_json(a)::text, ',' ORDER BY o)
                                        FROM unnest(p_audience) WITH ORDINALITY u(a, o)), '') || ']' END
        || ',"deps":[' || coalesce((SELECT string_agg('"' || encode(d, 'hex') || '"', ',' ORDER BY o)
                                      FROM unnest(p_deps) WITH ORDINALITY u(d, o)), '') || ']'
        || ',"kind":' || to_json(p_kind)::text || ',"origin":' || to_json(p_origin)::text
        || ',"payload":' || p_payload || ',"seq":' || p_seq || ',"tx":' || p_tx || ',"type":"entry"}'
$$;

-- An entry for forge_block() with a canonical payload.
CREATE FUNCTION forge_entry(p_kind text, p_payload jsonb, p_extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('kind', p_kind, 'payload', tracelink.jcs(p_payload)) || p_extra
$$;

-- A new chain of `p_origin` signed by `p_seed`, from its genesis block.
-- p_node, p_key and p_kind: what its first entry says (another node,
-- another key, another kind than a genesis entry's), p_opts forge_block's.

CREATE FUNCTION forge_genesis(p_origin text, p_seed bytea, p_node text DEFAULT NULL,
                              p_key bytea DEFAULT NULL, p_kind text DEFAULT 'tl.genesis',
                              p_opts jsonb DEFAULT '{}') RETURNS bytea
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO forge_chain (origin, seed) VALUES (p_origin, p_seed);
    RETURN forge_block(p_origin, jsonb_build_array(forge_entry(p_kind, jsonb_build_object(
        'node', coalesce(p_node, p_origin),
        'public_key', encode(coalesce(p_key, tracelink.ed25519_public_key(p_seed)), 'hex')))), p_opts);
END
$$;

-- The chain of a node's own origin as its honest blocks (tx below 1000, the
-- node's own numbering; forged blocks use 1000 and up) left it, for
-- forging its next blocks with its seed.
CREATE FUNCTION forge_from_own_chain(p_origin text, p_seed bytea) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM forge_chain WHERE origin = p_origin;
    INSERT INTO forge_chain (origin, seed, next_block, prev_hash, leaves, next_tx)
    SELECT p_origin, p_seed, h.block_no + 1, h.block_hash,
           coalesce((SELECT array_agg(substring(b.entry_hashes FROM i * 32 + 1 FOR 32) ORDER BY b.block_no, i)
                       FROM (SELECT DISTINCT ON (block_no) * FROM tracelink.ledger_blocks
                              WHERE origin = p_origin AND tx < 1000 ORDER BY block_no) b,
                            generate_series(0, b.entry_count - 1) i), '{}'),
           greatest(1000, (SELECT max(tx) + 1 FROM tracelink.ledger_blocks WHERE origin = p_origin))
      FROM tracelink.ledger_heads h WHERE h.origin = p_origin;
$$;

-- Forge the next block of a chain and insert its rows.  p_entries is a
-- jsonb array of {"kind", "payload" (text, stored as given), "deps": [hex],
-- "audience": [names] (absent: null), "seq" (default: its place),
-- "row": false (sealed, but no row inserted)}.  p_opts: "signed": false (a
-- signature that does not verify), "next_seed": hex (the block hands over
-- to that seed's key), "next_key": hex (the key named, if another),
-- "block_no", "tx", "prev_hash", "tree_root" (hex): other values than the
-- chain's; "advance": false (the chain's state stays as it was); "hold":
-- true (the block row goes to forge_held).  Returns the block hash.
CREATE FUNCTION forge_block(p_origin text, p_entries jsonb, p_opts jsonb DEFAULT '{}') RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
    c forge_chain;
    e jsonb;
    i int := 0;
    seq int;
    hashes bytea[] := '{}';
    all_leaves bytea[];
    line text;
    h bytea;
    deps bytea[];
    aud text[];
    tx bigint;
    bno bigint;
    prev bytea;
    next_key bytea;
    us bigint := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    hdr jsonb;
    bh bytea;
    b tracelink.ledger_blocks;
BEGIN
    SELECT * INTO STRICT c FROM forge_chain WHERE origin = p_origin FOR UPDATE;
    tx := coalesce((p_opts->>'tx')::bigint, c.next_tx);
    bno := coalesce((p_opts->>'block_no')::bigint, c.next_block);
    prev := coalesce(decode(p_opts->>'prev_hash', 'hex'), c.prev_hash);
    next_key := coalesce(decode(p_opts->>'next_key', 'hex'),
                         tracelink.ed25519_public_key(decode(p_opts->>'next_seed', 'hex')));
    FOR e IN SELECT x FROM jsonb_array_elements(p_entries) x LOOP
        seq := coalesce((e->>'seq')::int, i);
        deps := ARRAY(SELECT decode(d, 'hex') FROM jsonb_array_elements_text(coalesce(e->'deps', '[]')) d);
        aud := CASE WHEN e ? 'audience' THEN ARRAY(SELECT jsonb_array_elements_text(e->'audience')) END;
        line := forge_preimage(p_origin, tx, seq, e->>'kind', e->>'payload', deps, aud);
        h := sha256(convert_to(line, 'UTF8'));
        hashes := hashes || h;
        IF coalesce((e->>'row')::boolean, true) THEN
            INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, deps, audience, entry_hash)
            VALUES (p_origin, tx, seq, e->>'kind', e->>'payload',
                    CASE WHEN cardinality(deps) > 0 THEN deps END, aud, h);
        END IF;
        i := i + 1;
    END LOOP;
    all_leaves := c.leaves || hashes;
    hdr := jsonb_build_object(
        'block_no', bno, 'entries_root', encode(tracelink.merkle_root(hashes), 'hex'),
        'entry_count', cardinality(hashes), 'next_key', encode(next_key, 'hex'), 'origin', p_origin,
        'prev_hash', encode(prev, 'hex'), 'sealed_at', us,
        'signer_key', encode(tracelink.ed25519_public_key(c.seed), 'hex'),
        'tree_root', coalesce(p_opts->>'tree_root', encode(tracelink.merkle_root(all_leaves), 'hex')),
        'tree_size', cardinality(all_leaves), 'tx', tx, 'type', 'block');
    bh := sha256(convert_to(tracelink.jcs(hdr), 'UTF8'));
    b := ROW(p_origin, bno, tx, cardinality(hashes),
             (SELECT coalesce(string_agg(x, ''::bytea ORDER BY o), ''::bytea)
                FROM unnest(hashes) WITH ORDINALITY u(x, o)),
             tracelink.merkle_root(hashes), cardinality(all_leaves), decode(hdr->>'tree_root', 'hex'),
             prev, 'epoch'::timestamptz + us * interval '1 microsecond',
             tracelink.ed25519_public_key(c.seed), next_key, bh,
             CASE WHEN coalesce((p_opts->>'signed')::boolean, true)
                  THEN tracelink.ed25519_sign(c.seed, bh) ELSE decode(repeat('ab', 64), 'hex') END);
    IF coalesce((p_opts->>'hold')::boolean, false) THEN
        INSERT INTO forge_held VALUES (p_origin, bno, b);
    ELSE
        INSERT INTO tracelink.ledger_blocks SELECT (b).*;
    END IF;
    IF coalesce((p_opts->>'advance')::boolean, true) THEN
        UPDATE forge_chain
           SET next_block = bno + 1, prev_hash = bh, leaves = all_leaves, next_tx = tx + 1,
               seed = coalesce(decode(p_opts->>'next_seed', 'hex'), seed)
         WHERE origin = p_origin;
    END IF;
    RETURN bh;
END
$$;
