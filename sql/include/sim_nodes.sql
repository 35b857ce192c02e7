-- Simulated peers, for tests and benchmarks (not part of the extension).
--
-- A simulated node exists here only as an Ed25519 seed and the state of its
-- chain.  sim_node() pins its key in tracelink.nodes, as add_peer would, and
-- applies its genesis block; sim_action() returns the next block of its
-- chain holding one entry, as lines in the export format (docs/ledger.md)
-- for tracelink.ingest(), which applies them through the replication apply
-- path: blocks and entries verified, then the entry's projector run as for
-- any received entry.
-- Loaded only once per database (several files include it).
SELECT pg_catalog.to_regclass('sim_chain') IS NULL AS tl_need_sim \gset
\if :tl_need_sim
CREATE TABLE sim_chain (
    node        text PRIMARY KEY,
    seed        bytea NOT NULL,
    next_block  bigint NOT NULL DEFAULT 0,
    prev_hash   bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    leaves      bytea[] NOT NULL DEFAULT ARRAY[]::bytea[]
);

-- The next block of a simulated node's chain, with one entry; returns the
-- entry's hash and the export lines (entry line, block line).
CREATE FUNCTION sim_action(p_node text, p_kind text, p_payload jsonb, p_deps bytea[] DEFAULT ARRAY[]::bytea[],
                           p_audience text[] DEFAULT NULL, OUT entry_hash bytea, OUT lines text)
LANGUAGE plpgsql AS $$
DECLARE
    c sim_chain;
    entry_line text;
    header jsonb;
    block_hash bytea;
BEGIN
    SELECT * INTO STRICT c FROM sim_chain WHERE node = p_node FOR UPDATE;
    -- the entry line is the entry's preimage; tx = block number + 1, seq 0
    entry_line := tracelink.entry_preimage(p_kind, p_payload,
                                           ARRAY(SELECT DISTINCT d FROM unnest(p_deps) d),
                                           p_node, c.next_block + 1, 0, p_audience);
    entry_hash := sha256(convert_to(entry_line, 'UTF8'));
    c.leaves := c.leaves || entry_hash;
    header := jsonb_build_object(
        'block_no', c.next_block, 'tx', c.next_block + 1, 'origin', p_node, 'type', 'block',
        'entry_count', 1, 'entries_root', encode(tracelink.merkle_root(ARRAY[entry_hash]), 'hex'),
        'tree_size', cardinality(c.leaves), 'tree_root', encode(tracelink.merkle_root(c.leaves), 'hex'),
        'prev_hash', encode(c.prev_hash, 'hex'), 'next_key', NULL,
        'sealed_at', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        'signer_key', encode(tracelink.ed25519_public_key(c.seed), 'hex'));
    block_hash := sha256(convert_to(tracelink.jcs(header), 'UTF8'));
    lines := entry_line || E'\n' || tracelink.jcs(header || jsonb_build_object(
        'block_hash', encode(block_hash, 'hex'),
        'signature', encode(tracelink.ed25519_sign(c.seed, block_hash), 'hex'),
        'entry_hashes', jsonb_build_array(encode(entry_hash, 'hex'))));
    UPDATE sim_chain SET next_block = c.next_block + 1, prev_hash = block_hash, leaves = c.leaves
     WHERE node = p_node;
END
$$;

-- A new simulated node: its key (from a seed derived from its name) is
-- pinned here, and its genesis block applied.
CREATE FUNCTION sim_node(p_node text) RETURNS SETOF tracelink.ingestion
LANGUAGE plpgsql AS $$
DECLARE
    seed bytea := sha256(convert_to('tracelink simulated node ' || p_node, 'UTF8'));
    genesis text;
BEGIN
    INSERT INTO tracelink.nodes (name, public_key) VALUES (p_node, tracelink.ed25519_public_key(seed));
    INSERT INTO sim_chain (node, seed) VALUES (p_node, seed);
    SELECT lines INTO genesis FROM sim_action(p_node, 'tl.genesis', jsonb_build_object(
        'node', p_node, 'public_key', encode(tracelink.ed25519_public_key(seed), 'hex')));
    RETURN QUERY SELECT * FROM tracelink.ingest(genesis);
END
$$;

-- A simulated node's answer to its invitation, and its ballot: the
-- payloads and dependencies tracelink.reply_invitation() and
-- tracelink.vote() would append.
CREATE FUNCTION sim_reply(p_node text, p_link bytea, p_process text, p_accept boolean,
                          OUT entry_hash bytea, OUT lines text)
LANGUAGE sql AS $$
    SELECT * FROM sim_action(p_node, 'tl.link.reply',
        jsonb_build_object('link', encode(p_link, 'hex'), 'process', p_process,
                           'accept', p_accept, 'reason', NULL),
        ARRAY(SELECT i.invite_entry FROM tracelink.link_invitations i
               WHERE i.link_id = p_link AND i.process = p_process AND i.node = p_node))
$$;

CREATE FUNCTION sim_vote(p_node text, p_proposal bytea, p_approve boolean,
                         OUT entry_hash bytea, OUT lines text)
LANGUAGE sql AS $$
    SELECT * FROM sim_action(p_node, 'tl.link.ballot',
        jsonb_build_object('proposal', encode(p_proposal, 'hex'), 'approve', p_approve, 'reason', NULL),
        ARRAY[p_proposal])
$$;

-- A simulated node's process submission, with the dependencies
-- tracelink.submit_process() would list (the link, the node's answer to its
-- invitation) and any more the caller names.
CREATE FUNCTION sim_submit(p_node text, p_link bytea, p_payload jsonb, p_more_deps bytea[] DEFAULT '{}',
                           OUT entry_hash bytea, OUT lines text)
LANGUAGE sql AS $$
    SELECT * FROM sim_action(p_node, 'tl.process.submit',
        jsonb_build_object('link', encode(p_link, 'hex')) || p_payload,
        ARRAY[p_link] || p_more_deps
          || ARRAY(SELECT i.reply_entry FROM tracelink.link_invitations i
                    WHERE i.link_id = p_link AND i.node = p_node AND i.reply_entry IS NOT NULL
                      AND i.process = (p_payload->'definition'->>'name')))
$$;
\endif
\unset tl_need_sim
